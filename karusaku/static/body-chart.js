// The body chart (人体図) of the record form: tapping a region sets its select (mark-<region>)
// to the chosen kind, or clears it when it already has that kind. The selects are the data;
// the drawing and the summary line follow them. Works on forms swapped in by htmx.
(function () {
  "use strict";
  var KINDS = ["pain", "stiffness", "numbness"];

  function chosenKind(chart) {
    var radio = chart.querySelector('input[name="body_chart_kind"]:checked');
    return radio ? radio.value : "pain";
  }

  function selectFor(chart, region) {
    var selects = chart.querySelectorAll("select[data-region]");
    for (var i = 0; i < selects.length; i++) {
      if (selects[i].getAttribute("data-region") === region) {
        return selects[i];
      }
    }
    return null;
  }

  function kindLabel(select, kind) {
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === kind) {
        return select.options[i].text;
      }
    }
    return kind;
  }

  // Draw one region as its select says.
  function paint(chart, select) {
    var region = select.getAttribute("data-region");
    var shape = chart.querySelector('svg .region[data-region="' + region + '"]');
    if (!shape) {
      return;
    }
    var kind = select.value;
    for (var i = 0; i < KINDS.length; i++) {
      shape.classList.toggle("mark-" + KINDS[i], KINDS[i] === kind);
    }
    var label = select.getAttribute("data-label") || region;
    shape.setAttribute("aria-label", kind ? label + "（" + kindLabel(select, kind) + "）" : label);
  }

  // The summary line, as body_chart.summary() writes it: "痛み: 腰、右肩／こり: 首（後）".
  function summarize(chart) {
    var line = chart.querySelector(".body-chart-summary");
    if (!line) {
      return;
    }
    var selects = chart.querySelectorAll("select[data-region]");
    var parts = [];
    for (var k = 0; k < KINDS.length; k++) {
      var names = [];
      var label = KINDS[k];
      for (var i = 0; i < selects.length; i++) {
        if (selects[i].value === KINDS[k]) {
          names.push(selects[i].getAttribute("data-label"));
          label = kindLabel(selects[i], KINDS[k]);
        }
      }
      if (names.length) {
        parts.push(label + ": " + names.join("、"));
      }
    }
    line.textContent = parts.length ? parts.join("／") : "印なし";
  }

  function sync(chart) {
    var selects = chart.querySelectorAll("select[data-region]");
    for (var i = 0; i < selects.length; i++) {
      paint(chart, selects[i]);
    }
    summarize(chart);
  }

  function syncWithin(root) {
    if (!root || !root.querySelectorAll) {
      return;
    }
    if (root.matches && root.matches(".body-chart")) {
      sync(root);
    }
    var charts = root.querySelectorAll(".body-chart");
    for (var i = 0; i < charts.length; i++) {
      sync(charts[i]);
    }
  }

  function fire(element, type) {
    var event;
    if (typeof Event === "function") {
      event = new Event(type, { bubbles: true });
    } else {
      event = document.createEvent("Event");
      event.initEvent(type, true, false);
    }
    element.dispatchEvent(event);
  }

  function toggle(shape) {
    var chart = shape.closest(".body-chart");
    var select = chart && selectFor(chart, shape.getAttribute("data-region"));
    if (!select || select.disabled) {
      return;
    }
    var kind = chosenKind(chart);
    select.value = select.value === kind ? "" : kind;
    paint(chart, select);
    summarize(chart);
    // Like a person changing the select: an htmx autosave (input … from:closest form) notices.
    fire(select, "input");
    fire(select, "change");
  }

  function regionOf(target) {
    var shape = target && target.closest ? target.closest(".body-chart svg .region") : null;
    return shape && shape.hasAttribute("data-region") ? shape : null;
  }

  document.addEventListener("click", function (event) {
    var shape = regionOf(event.target);
    if (shape) {
      event.preventDefault();
      toggle(shape);
    }
  });

  document.addEventListener("keydown", function (event) {
    var key = event.key;
    if (key !== "Enter" && key !== " " && key !== "Spacebar") {
      return;
    }
    var shape = regionOf(event.target);
    if (shape) {
      event.preventDefault(); // no page scroll on Space, no form submit on Enter
      if (!event.repeat) {
        toggle(shape);
      }
    }
  });

  function followSelect(event) {
    var select = event.target;
    if (select && select.matches && select.matches(".body-chart select[data-region]")) {
      var chart = select.closest(".body-chart");
      paint(chart, select);
      summarize(chart);
    }
  }
  document.addEventListener("change", followSelect);
  document.addEventListener("input", followSelect);

  document.addEventListener("htmx:load", function (event) {
    syncWithin(event.detail && event.detail.elt);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    syncWithin(event.detail && event.detail.target);
  });
  // The browser may restore select values on back/forward or reload: follow them.
  window.addEventListener("pageshow", function () {
    syncWithin(document);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      syncWithin(document);
    });
  } else {
    syncWithin(document);
  }
})();
