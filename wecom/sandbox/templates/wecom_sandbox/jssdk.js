/* The WeCom sandbox's stand-in for WeCom's JS-SDK: wx.agentConfig and
   wx.invoke("shareToExternalMoments"). Not WeCom's code: it asks the sandbox's
   control plane ({{ control }}) to check the signature and to post the moment. */
(function () {
  var control = "{{ control|escapejs }}";
  var configured = false;
  function member() {
    var found = /wxwork-sandbox-user\/([A-Za-z0-9_.@-]+)/.exec(navigator.userAgent);
    return found ? found[1] : "";
  }
  function post(path, body) {
    return fetch(control + path, {method: "POST", headers: {"Content-Type": "application/json"},
                                  body: JSON.stringify(body)}).then(function (r) { return r.json(); });
  }
  window.wx = {
    agentConfig: function (config) {
      var request = Object.assign({}, config, {url: location.href.split("#")[0]});
      post("jssdk/agent-config", request).then(function (answer) {
        configured = answer.errMsg === "agentConfig:ok";
        (configured ? config.success : config.fail || function () {})(answer);
      }, function () { if (config.fail) config.fail({errMsg: "agentConfig:fail network"}); });
    },
    invoke: function (name, args, callback) {
      if (name !== "shareToExternalMoments") return callback({err_msg: name + ":fail not supported by the sandbox"});
      if (!configured) return callback({err_msg: name + ":fail agentConfig first"});
      var text = (args.text && args.text.content) || "";
      post("jssdk/share", {userid: member(), text: text}).then(function (answer) {
        callback({err_msg: answer.errMsg || (name + ":fail " + (answer.error || "refused"))});
      }, function () { callback({err_msg: name + ":fail network"}); });
    }
  };
})();
