// The reach forecast panel: while a recomputation is queued or running, follow it (its JSON status,
// every 2 s) and say when the new forecast is ready. The page is not reloaded by itself: a form being
// edited would lose its changes.
(function () {
  var ACTIVE = ["queued", "running"];
  var INTERVAL_MS = 2000;

  function follow(status) {
    var url = status.dataset.forecastStatusUrl;
    var progress = status.querySelector('[data-forecast="progress"]');
    if (!url || !progress || ACTIVE.indexOf(status.dataset.forecastState) < 0) return;
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (job) {
          if (!job) return;
          status.dataset.forecastState = job.state;
          if (ACTIVE.indexOf(job.state) >= 0) {
            progress.textContent = job.text;
            window.setTimeout(poll, INTERVAL_MS);
          } else if (job.state === "done") {
            progress.textContent = status.dataset.forecastReady + " ";
            var link = document.createElement("a");
            link.href = window.location.pathname + window.location.search + "#reach-forecast";
            link.textContent = status.dataset.forecastReload;
            link.className = "text-primary-600 dark:text-primary-500";
            link.addEventListener("click", function (event) { event.preventDefault(); window.location.reload(); });
            progress.appendChild(link);
          } else {
            progress.textContent = job.text;
          }
        })
        .catch(function () { window.setTimeout(poll, INTERVAL_MS * 5); });
    }
    window.setTimeout(poll, INTERVAL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var status = document.getElementById("reach-forecast-status");
    if (status) follow(status);
  });
})();
