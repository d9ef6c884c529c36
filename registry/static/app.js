/* Partnership Registry: small keyboard and screen-reader helps. Every page works without it. */
(function () {
  "use strict";

  // After a failed submit, start at the error summary (or a focusable alert such as an
  // import's "Nothing was imported"), so its heading is read first and Tab reaches its
  // links (a focus() rather than autofocus: the summary is no field).
  function focusErrorSummary() {
    var summary = document.querySelector('.error-summary, [role="alert"][tabindex="-1"]');
    if (summary) {
      summary.focus();
    }
  }

  // A summary link moves focus to its field and shows the field's label or legend
  // (a plain fragment link scrolls, but would hide the label above the top edge).
  function followSummaryLinks() {
    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest(".error-summary a[href^='#']");
      if (!link) {
        return;
      }
      var target = document.getElementById(decodeURIComponent(link.hash.slice(1)));
      if (!target) {
        return;
      }
      event.preventDefault();
      var group = target.closest("fieldset");
      var caption = group ? group.querySelector("legend") : document.querySelector("label[for='" + target.id + "']");
      (caption || target).scrollIntoView();
      target.focus({ preventScroll: true });
    });
  }

  // On a page answering a POST, a language button re-submits what the reader has typed
  // now (the server-side fallback re-sends what was posted). The form that answered is
  // the one that posts to this page's address.
  function switchLanguageWithTheLiveForm() {
    var switcher = document.querySelector("form.lang-resubmit");
    if (!switcher) {
      return;
    }
    switcher.addEventListener("submit", function (event) {
      var here = window.location.pathname;
      var forms = document.querySelectorAll("main form[method='post' i]");
      var live = null;
      for (var i = 0; i < forms.length; i += 1) {
        var action = forms[i].getAttribute("action");
        if (!action || new URL(forms[i].action, window.location.href).pathname === here) {
          live = forms[i];
          break;
        }
      }
      var button = event.submitter;
      if (!live || !button) {
        return;
      }
      event.preventDefault();
      var marker = document.createElement("input");
      marker.type = "hidden";
      marker.name = button.name;
      marker.value = button.value;
      live.appendChild(marker);
      live.action = button.formAction || switcher.action;
      live.submit();
    });
  }

  // A closed <details> prints as its summary alone: open them all for paper (the data
  // behind each chart included), and close again the ones the reader had closed.
  function printDetailsOpen() {
    var opened = [];
    window.addEventListener("beforeprint", function () {
      document.querySelectorAll("details:not([open])").forEach(function (details) {
        details.open = true;
        opened.push(details);
      });
    });
    window.addEventListener("afterprint", function () {
      opened.forEach(function (details) {
        details.open = false;
      });
      opened = [];
    });
  }

  // A wide table scrolls sideways inside its region (WCAG 1.4.10 allows it), which on a
  // narrow screen does not show: while a region overflows, a line above it says so, in the
  // page's language (the body's data-scroll-hint). Hidden from screen readers, which reach
  // every cell anyway. Kept up to date as the window resizes and disclosures open.
  function markScrollingTables() {
    var words = document.body.getAttribute("data-scroll-hint");
    var regions = document.querySelectorAll(".table-scroll");
    if (!words || !regions.length) {
      return;
    }
    function update() {
      regions.forEach(function (region) {
        var hint = region.previousElementSibling;
        var shown = hint !== null && hint.classList.contains("scroll-hint");
        var wide = region.scrollWidth > region.clientWidth + 1;
        if (wide && !shown) {
          hint = document.createElement("p");
          hint.className = "scroll-hint";
          hint.setAttribute("aria-hidden", "true");
          hint.textContent = words;
          region.parentNode.insertBefore(hint, region);
        } else if (!wide && shown) {
          hint.remove();
        }
      });
    }
    update();
    window.addEventListener("resize", update);
    document.addEventListener("toggle", update, true);
  }

  function start() {
    focusErrorSummary();
    followSummaryLinks();
    switchLanguageWithTheLiveForm();
    printDetailsOpen();
    markScrollingTables();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
