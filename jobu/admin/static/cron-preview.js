// The cron form's fire-time preview as you type: when the schedule, the time zone or the
// DST-repeat choice changes, and the typing has paused, ask GET /api/v1/schedule/next for the
// next 10 fire times and list them (in the cron's zone, with the UTC offset and DST marks)
// below the fields; a tick that the schedule's business calendar moves or skips says so and
// why. A refusal is shown beside its field in the endpoint's own sentence.
// Without this script the form's "Preview fire times" button does the same on the server.
(function () {
  "use strict";

  var DELAY_MS = 350;
  var COUNT = 10;
  var NOTES = {
    "gap-shifted": "the clock springs forward here: wall times it skips fire at this instant",
    "repeated-hour": "this wall time happens twice (the clock falls back): see the offset"
  };

  var section = document.getElementById("schedule-preview");
  if (!section || !window.fetch) {
    return;
  }
  var form = section.closest("form");
  var fields = ["schedule", "timezone", "dst_repeat"];
  var timer = null;
  var asked = 0;

  function input(name) {
    return form.elements.namedItem(name);
  }

  function clearErrors() {
    ["schedule", "timezone"].forEach(function (name) {
      var error = document.getElementById("error-" + name);
      if (error && error.dataset.live) {
        error.parentNode.classList.remove("invalid");
        error.remove();
      }
    });
  }

  function showError(name, sentence) {
    var field = input(name) || input("schedule");
    var label = field.closest("label");
    var error = document.getElementById("error-" + field.name);
    if (!error) {
      error = document.createElement("span");
      error.className = "field-error";
      error.id = "error-" + field.name;
      error.dataset.live = "yes";
      field.insertAdjacentElement("afterend", error);
    }
    error.textContent = sentence;
    label.classList.add("invalid");
  }

  function render(answer) {
    section.replaceChildren();
    var heading = document.createElement("h2");
    heading.textContent = "Next " + answer.fires.length + " fire times ";
    var zone = document.createElement("span");
    zone.className = "muted";
    zone.textContent = "in " + answer.timezone + (answer.in_words ? " — " + answer.in_words : "");
    heading.appendChild(zone);
    section.appendChild(heading);
    if (!answer.fires.length) {
      var none = document.createElement("p");
      none.className = "empty";
      none.textContent = "This schedule fires no more.";
      section.appendChild(none);
      return;
    }
    var list = document.createElement("ol");
    answer.fires.forEach(function (fire) {
      var item = document.createElement("li");
      var time = document.createElement("time");
      time.dateTime = fire.at;
      // The local ISO time as the server wrote it: YYYY-MM-DDTHH:MM:SS+HH:MM.
      time.textContent = fire.local.slice(0, 19).replace("T", " ") + " (UTC" + fire.utc_offset + ")";
      item.appendChild(time);
      if (fire.dst) {
        var mark = document.createElement("span");
        mark.className = "dst";
        mark.title = NOTES[fire.dst] || "";
        mark.textContent = fire.dst;
        item.appendChild(document.createTextNode(" "));
        item.appendChild(mark);
      }
      if (fire.outcome && fire.outcome !== "run") {
        // The schedule's business calendar moved or skipped this tick: say so and why.
        item.className = "tick-" + fire.outcome;
        var note = document.createElement("span");
        note.className = "calendar-note";
        note.textContent = fire.outcome + ": " + fire.reason;
        item.appendChild(document.createTextNode(" "));
        item.appendChild(note);
      }
      list.appendChild(item);
    });
    section.appendChild(list);
  }

  function ask() {
    var schedule = input("schedule").value.trim();
    if (!schedule) {
      clearErrors();
      section.replaceChildren();
      return;
    }
    var query = new URLSearchParams({count: String(COUNT)});
    fields.forEach(function (name) {
      var field = input(name);
      if (field && field.value.trim()) {
        query.set(name, field.value.trim());
      }
    });
    var mine = ++asked;
    fetch(section.dataset.endpoint + "?" + query.toString(), {
      credentials: "same-origin", headers: {"Accept": "application/json"}
    }).then(function (response) {
      return response.json().then(function (body) {
        return {ok: response.ok, body: body};
      });
    }).then(function (answer) {
      if (mine !== asked) {
        return; // a later question was asked since: its answer counts
      }
      clearErrors();
      if (answer.ok) {
        render(answer.body);
      } else if (answer.body && answer.body.error) {
        section.replaceChildren();
        showError(answer.body.error.field || "schedule", answer.body.error.message);
      }
    }).catch(function () {
      // The server could not be asked: the Preview button still works.
    });
  }

  function changed() {
    window.clearTimeout(timer);
    timer = window.setTimeout(ask, DELAY_MS);
  }

  fields.forEach(function (name) {
    var field = input(name);
    if (field) {
      field.addEventListener("input", changed);
      field.addEventListener("change", changed);
    }
  });
}());
