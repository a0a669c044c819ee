// Inside the WeCom client: Publish opens WeCom's own composer through the JS-SDK
// (wx.agentConfig, then shareToExternalMoments) instead of asking the server to
// create a WeCom task. Without the JS-SDK, the form posts as usual.
(function () {
  var form = document.querySelector("form[data-share-url]");
  var configElement = document.getElementById("wecom-agent-config");
  if (!form || !configElement || !window.wx) return;
  var ready = false;
  var config = JSON.parse(configElement.textContent);
  config.success = function () { ready = true; form.dataset.wecom = "ready"; };
  config.fail = function () { form.dataset.wecom = "unavailable"; };
  window.wx.agentConfig(config);

  function post(fields) {
    var body = new FormData(form);
    Object.keys(fields).forEach(function (k) { body.set(k, fields[k]); });
    return fetch(form.dataset.shareUrl, {method: "POST", body: body, credentials: "same-origin"})
      .then(function (r) { return r.json().then(function (data) { return {status: r.status, data: data}; }); });
  }
  form.addEventListener("submit", function (event) {
    if (!ready) return; // the server path
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    post({}).then(function (answer) {
      if (answer.data.error === "touch") { // what the associate wrote breaks the brand's rules: say why, here
        var box = document.getElementById("touch-error");
        var list = box.querySelector("ul");
        list.textContent = "";
        answer.data.problems.forEach(function (text) {
          var item = document.createElement("li");
          item.textContent = text;
          list.appendChild(item);
        });
        box.hidden = false;
        button.disabled = false;
        return;
      }
      if (answer.status !== 200) { location.reload(); return; } // already requested, expired…: the page says
      window.wx.invoke("shareToExternalMoments", answer.data.share, function (result) {
        if (result.err_msg === "shareToExternalMoments:ok") { location.reload(); return; }
        post({undo: "1"}).then(function () {
          button.disabled = false;
          document.getElementById("share-error").hidden = false;
        });
      });
    }, function () { button.disabled = false; });
  });
})();
