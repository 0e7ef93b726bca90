// Interactivity for a tracetune report, and a self-check: once the plots and the
// graph are laid out, <body> gets data-rendered="ok" plus counts a test can read.
(function () {
  "use strict";
  var body = document.body;
  window.addEventListener("error", function (event) {
    body.setAttribute("data-script-error", String(event.message || event));
  });

  function data() {
    var el = document.getElementById("report-data");
    return el ? JSON.parse(el.textContent) : { candidates: {} };
  }

  function drawn(el) {
    var box = el.getBBox();
    return box.width > 0 && box.height > 0;
  }

  function select(nodes, chosen) {
    nodes.forEach(function (n) { n.classList.toggle("selected", n === chosen); });
  }

  function candidates(info) {
    var detail = document.getElementById("cand-detail");
    var marks = Array.prototype.slice.call(document.querySelectorAll("svg.plot .cand"));
    marks.forEach(function (mark) {
      mark.addEventListener("click", function () {
        var key = mark.getAttribute("data-step") + ":" + mark.getAttribute("data-idx");
        var c = info.candidates[key] || {};
        select(marks, mark);
        detail.textContent = "step " + key.replace(":", ", candidate ") + ": score " +
          (c.score === null || c.score === undefined ? "none" : c.score) + " (" + (c.status || "?") + ")\n" +
          (c.values || "") + (c.reasoning ? "\n\nreasoning: " + c.reasoning : "");
      });
    });
  }

  function graph() {
    var detail = document.getElementById("node-detail");
    var nodes = Array.prototype.slice.call(document.querySelectorAll("svg.graph g.node"));
    nodes.forEach(function (node) {
      var show = function () {
        select(nodes, node);
        detail.textContent = node.getAttribute("data-name") + " (" + node.getAttribute("data-kind") + ")\n" +
          (node.getAttribute("data-description") || "") + "\nvalue: " + node.getAttribute("data-value");
      };
      node.addEventListener("click", show);
      node.addEventListener("keydown", function (e) { if (e.key === "Enter") { show(); } });
    });
    return nodes.filter(drawn).length;
  }

  function check() {
    var plots = Array.prototype.slice.call(document.querySelectorAll("svg.plot"));
    var ok = plots.filter(function (svg) {
      var marks = svg.querySelectorAll(".mark").length;
      svg.setAttribute("data-marks", String(marks));
      return drawn(svg) && marks > 0;
    });
    candidates(data());
    body.setAttribute("data-plots", String(ok.length));
    body.setAttribute("data-graph-nodes", String(graph()));
    body.setAttribute("data-rendered", "ok");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", check);
  } else {
    check();
  }
})();
