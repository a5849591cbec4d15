/* jobu admin: the jobs list and a job's page refresh their waiting and running jobs.
   Every 3 s, while the page is visible, the elements carrying data-execution-id whose
   data-status is PENDING, RUNNING or RETRY are asked for again in one request
   (GET /api/v1/jobs?ids=...; the session's cookie signs it in) and their status (.job-status),
   progress (.job-progress), attempt (.job-attempt), start, end and duration cells
   (.job-started, .job-ended, .job-took) are written again, data-status included. A job's own
   page (data-detail) loads again once its job has finished, to show the result and actions.
   It stops when nothing is left to watch, and after 10 minutes. Without JavaScript the page
   is what the server wrote. */
(function () {
  "use strict";

  var ACTIVE = ["PENDING", "RUNNING", "RETRY"];
  var PERIOD_MS = 3000;
  var GIVE_UP_MS = 10 * 60 * 1000;
  var startedAt = Date.now();
  var timer = null;
  var busy = false;

  function pad(number) {
    return String(number).padStart(2, "0");
  }

  function watched() {
    var found = document.querySelectorAll("[data-execution-id][data-status]");
    return Array.prototype.filter.call(found, function (element) {
      return ACTIVE.indexOf(element.getAttribute("data-status")) >= 0;
    });
  }

  function utcText(date) {
    return date.getUTCFullYear() + "-" + pad(date.getUTCMonth() + 1) + "-" +
      pad(date.getUTCDate()) + " " + pad(date.getUTCHours()) + ":" +
      pad(date.getUTCMinutes()) + ":" + pad(date.getUTCSeconds()) + " UTC";
  }

  /* As the server's formatting.seconds: 850 ms, 12.3 s, 4 min 05 s, 2 h 03 min. */
  function duration(seconds) {
    if (seconds < 1) {
      return Math.round(seconds * 1000) + " ms";
    }
    if (seconds < 60) {
      return seconds.toFixed(1) + " s";
    }
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) {
      return minutes + " min " + pad(Math.floor(seconds) % 60) + " s";
    }
    return Math.floor(minutes / 60) + " h " + pad(minutes % 60) + " min";
  }

  function writeTime(cell, iso) {
    if (!cell) {
      return;
    }
    cell.textContent = "";
    if (!iso) {
      var none = document.createElement("span");
      none.className = "muted";
      none.textContent = "—";
      cell.appendChild(none);
      return;
    }
    var element = document.createElement("time");
    element.setAttribute("datetime", iso);
    element.textContent = utcText(new Date(iso));
    element.title = element.textContent;
    cell.appendChild(element);
    if (window.jobuLocalTime) {
      window.jobuLocalTime(cell);
    }
  }

  function writeStatus(cell, job) {
    if (!cell) {
      return;
    }
    cell.textContent = "";
    var badge = document.createElement("span");
    badge.className = "status s-" + job.status.toLowerCase();
    badge.textContent = job.status;
    cell.appendChild(badge);
    if (job.cancel_requested && job.status === "RUNNING") {
      var asked = document.createElement("span");
      asked.className = "muted";
      asked.textContent = " (cancel asked)";
      cell.appendChild(asked);
    }
  }

  function writeText(cell, text) {
    if (cell) {
      cell.textContent = text;
    }
  }

  function update(element, job) {
    var finished = ACTIVE.indexOf(job.status) < 0;
    if (finished && element.hasAttribute("data-detail")) {
      window.location.reload();
      return;
    }
    element.setAttribute("data-status", job.status);
    writeStatus(element.querySelector(".job-status"), job);
    writeText(element.querySelector(".job-progress"), job.progress === null ? "—" :
      (Math.round(job.progress * 1000) / 10) + " % " + (job.progress_note || ""));
    writeText(element.querySelector(".job-attempt"), job.attempt + "/" + (job.max_retry + 1));
    writeTime(element.querySelector(".job-started"), job.started_at);
    writeTime(element.querySelector(".job-ended"), job.finished_at);
    writeText(element.querySelector(".job-took"), job.started_at && job.finished_at ?
      duration((new Date(job.finished_at) - new Date(job.started_at)) / 1000) : "—");
  }

  function stop() {
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
    }
  }

  function poll() {
    if (Date.now() - startedAt > GIVE_UP_MS) {
      stop();
      return;
    }
    if (document.hidden || busy) {
      return;
    }
    var elements = watched();
    if (!elements.length) {
      stop();
      return;
    }
    var byId = {};
    elements.forEach(function (element) {
      byId[element.getAttribute("data-execution-id")] = element;
    });
    var ids = Object.keys(byId);
    busy = true;
    window.fetch("/api/v1/jobs?limit=" + ids.length + "&ids=" + ids.join(","), {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (body) {
      (body ? body.items : []).forEach(function (job) {
        if (byId[String(job.id)]) {
          update(byId[String(job.id)], job);
        }
      });
    }).catch(function () {
      /* The next tick asks again: a restart of the admin or a lost network is no reason to
         stop watching. */
    }).then(function () {
      busy = false;
    });
  }

  if (watched().length) {
    timer = window.setInterval(poll, PERIOD_MS);
  }
})();
