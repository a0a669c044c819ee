// Live preview: as the copy is typed, the card shows it with forbidden words marked.
(function () {
  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function render(text, words) {
    var html = escapeHtml(text);
    words.filter(Boolean).sort(function (a, b) { return b.length - a.length; }).forEach(function (word) {
      var pattern = new RegExp(escapeHtml(word).replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gi");
      html = html.replace(pattern, function (m) { return "<mark>" + m + "</mark>"; });
    });
    return html.replace(/\n/g, "<br>");
  }
  document.addEventListener("DOMContentLoaded", function () {
    var card = document.querySelector(".moment-preview");
    var copy = document.getElementById("id_copy");
    if (!card || !copy) return;
    var target = card.querySelector("[data-preview-copy]");
    var words = (card.dataset.forbidden || "").split("|");
    copy.addEventListener("input", function () { target.innerHTML = render(copy.value, words); });
  });
})();
