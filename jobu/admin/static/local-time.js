/* jobu admin: each <time datetime="ISO"> the server wrote in UTC is shown in the browser's own
   zone, with its UTC offset; the UTC text stays as the title, shown on hover. Without
   JavaScript the page stays in UTC. Elements done are marked data-local="yes";
   window.jobuLocalTime(root) does the same for elements added later (jobs-refresh.js). */
(function () {
  "use strict";

  function pad(number) {
    return String(number).padStart(2, "0");
  }

  function offsetText(date) {
    var minutes = -date.getTimezoneOffset();
    var sign = minutes >= 0 ? "+" : "-";
    minutes = Math.abs(minutes);
    return sign + pad(Math.floor(minutes / 60)) + ":" + pad(minutes % 60);
  }

  function localText(date) {
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      " " + pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()) +
      " " + offsetText(date);
  }

  function localize(root) {
    var found = (root || document).querySelectorAll("time[datetime]:not([data-local])");
    Array.prototype.forEach.call(found, function (element) {
      var utcText = element.textContent.trim();
      // Only times written in UTC: a time shown in a cron's own zone is meant that way.
      if (!/ UTC$/.test(utcText)) {
        return;
      }
      var when = new Date(element.getAttribute("datetime"));
      if (isNaN(when.getTime())) {
        return;
      }
      element.title = utcText;
      element.textContent = localText(when);
      element.setAttribute("data-local", "yes");
    });
  }

  window.jobuLocalTime = localize;
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { localize(document); });
  } else {
    localize(document);
  }
})();
