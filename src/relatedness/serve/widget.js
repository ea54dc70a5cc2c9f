/*! relatedness widget: a "Related Articles" box for any page, no dependencies.
 *
 *   <div data-related-id="ID" data-k="4" data-related-server="https://related.example.org"></div>
 *   <script src="https://related.example.org/widget.js" defer></script>
 *
 * Each element with data-related-id gets the box relatedness's render_html draws:
 * <section class="related-articles"><h2>…</h2><ul><li class="related-article">…</li></ul></section>.
 * The server defaults to the origin this script was loaded from. Text is set with textContent
 * (never parsed as HTML) and a link is kept only when it resolves to http: or https:.
 * An element gets data-related-state="done", "empty" or "error" when it is finished.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var defaultServer = script && script.src ? new URL(script.src, document.baseURI).origin : "";

  function safeHref(url) {
    var text = String(url == null ? "" : url).trim();
    if (!text) return "#";
    try {
      var resolved = new URL(text, document.baseURI);
      if (resolved.protocol === "http:" || resolved.protocol === "https:") return text;
    } catch (e) { /* not a URL at all */ }
    return "#";
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function render(target, related, heading) {
    while (target.firstChild) target.removeChild(target.firstChild);
    if (!related.length) { target.setAttribute("data-related-state", "empty"); return; }
    var box = el("section", "related-articles");
    box.appendChild(el("h2", null, heading));
    var list = el("ul");
    related.forEach(function (item) {
      var li = el("li", "related-article");
      var link = el("a", null, item.title);
      link.setAttribute("href", safeHref(item.url));
      li.appendChild(link);
      li.appendChild(el("span", "section", item.section));
      li.appendChild(el("p", "snippet", item.snippet));
      list.appendChild(li);
    });
    box.appendChild(list);
    target.appendChild(box);
    target.setAttribute("data-related-state", "done");
  }

  function load(target) {
    var id = target.getAttribute("data-related-id");
    if (id == null || id === "") return;
    var server = (target.getAttribute("data-related-server") || defaultServer).replace(/\/+$/, "");
    var k = target.getAttribute("data-k");
    var url = server + "/related/" + encodeURIComponent(id) + (k ? "?k=" + encodeURIComponent(k) : "");
    var heading = target.getAttribute("data-heading") || "Related Articles";
    target.setAttribute("data-related-state", "loading");
    fetch(url, { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (payload) { render(target, payload.related || [], heading); })
      .catch(function (error) {
        target.setAttribute("data-related-state", "error");
        if (window.console) console.warn("relatedness widget: " + url + ": " + error.message);
      });
  }

  function start() {
    var nodes = document.querySelectorAll("[data-related-id]");
    for (var i = 0; i < nodes.length; i++) load(nodes[i]);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
