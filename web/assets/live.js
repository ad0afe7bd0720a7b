// Progressive enhancement of the order page: follow the order over server-sent events and
// replace its status and timeline in place. Without JavaScript the page still works (reload).
(function () {
  var root = document.querySelector("[data-live]");
  if (!root || !window.EventSource) return;
  var source = new EventSource(root.getAttribute("data-live"));
  source.addEventListener("order", function (e) {
    var data = JSON.parse(e.data);
    var status = document.getElementById("order-status");
    if (status) { status.textContent = data.status_label; status.setAttribute("data-status", data.status); status.className = "badge " + data.tone; }
    var timeline = document.getElementById("timeline");
    if (timeline) timeline.innerHTML = data.timeline_html;
    var action = document.getElementById("payment-action");
    if (action) action.hidden = !data.requires_action;
    if (data.final) source.close();
  });
  source.addEventListener("end", function () { source.close(); });
})();
// Dates in the viewer's time zone: every <time datetime> is rewritten with the local clock.
(function () {
  var times = document.querySelectorAll("time[datetime]");
  for (var i = 0; i < times.length; i++) {
    var d = new Date(times[i].getAttribute("datetime"));
    if (!isNaN(d)) times[i].textContent = d.toLocaleString();
  }
})();
// A print button (the packing slip): inline handlers are not allowed by the page's CSP.
(function () {
  var buttons = document.querySelectorAll("[data-print]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function () { window.print(); });
  }
})();
