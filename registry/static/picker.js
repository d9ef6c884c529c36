/* Searchable pickers (templates/_macros/pickers.html): a WAI-ARIA 1.2 combobox with a
   listbox of matches from the server's search (/pick/...), in place of the form's
   search-then-choose step. Without this script the step works by submitting the form. */
(function () {
  "use strict";

  var DELAY_MS = 250;
  var counter = 0;

  function say(widget, key, values) {
    var text = widget.getAttribute("data-msg-" + key) || "";
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(values[name]);
    });
    return text;
  }

  function Picker(widget) {
    counter += 1;
    this.widget = widget;
    this.multiple = widget.getAttribute("data-multiple") === "true";
    this.name = widget.getAttribute("data-name");
    this.source = widget.getAttribute("data-source");
    this.input = widget.querySelector(".picker-search input[type=search]");
    this.chosen = widget.querySelector(".picker-chosen");
    this.options = [];
    this.active = -1;
    this.timer = null;
    this.request = 0;
    this.baseId = (this.input.id || "picker-" + counter) + "-listbox";
    this.build();
  }

  Picker.prototype.build = function () {
    var self = this;
    var search = this.widget.querySelector(".picker-search");
    // The no-script step's Search button and matches: the listbox replaces them.
    var go = this.widget.querySelector(".picker-go");
    if (go) {
      go.hidden = true;
      go.type = "button"; // Enter in another field sends the form with its own button
    }
    var results = this.widget.querySelector(".picker-results");
    if (results) {
      results.parentNode.removeChild(results);
    }
    this.listbox = document.createElement("ul");
    this.listbox.id = this.baseId;
    this.listbox.className = "picker-listbox";
    this.listbox.setAttribute("role", "listbox");
    var label = this.widget.querySelector("label[for='" + this.input.id + "']");
    if (label) {
      if (!label.id) {
        label.id = this.input.id + "-label";
      }
      this.listbox.setAttribute("aria-labelledby", label.id);
    }
    this.listbox.hidden = true;
    search.appendChild(this.listbox);
    if (this.multiple) {
      // Every match at once, when they all show: e.g. one partner's services, found by its name.
      this.addAllButton = document.createElement("button");
      this.addAllButton.type = "button";
      this.addAllButton.className = "picker-button picker-add-all";
      this.addAllButton.hidden = true;
      this.addAllButton.addEventListener("click", function () {
        self.addAll();
      });
      search.appendChild(this.addAllButton);
    }
    this.status = document.createElement("p");
    this.status.className = "sr-only";
    this.status.setAttribute("role", "status");
    this.status.setAttribute("aria-live", "polite");
    this.widget.appendChild(this.status);

    this.input.setAttribute("role", "combobox");
    this.input.setAttribute("aria-autocomplete", "list");
    this.input.setAttribute("aria-expanded", "false");
    this.input.setAttribute("aria-controls", this.listbox.id);
    this.input.removeAttribute("name"); // the typed text is a search, not a value to send

    this.input.addEventListener("input", function () {
      if (self.input.value.trim()) {
        self.schedule();
      } else {
        window.clearTimeout(self.timer);
        self.request += 1; // an answer still on its way is no longer wanted
        self.close();
        if (self.addAllButton) {
          self.addAllButton.hidden = true;
        }
      }
    });
    this.input.addEventListener("keydown", function (event) {
      self.onKey(event);
    });
    this.input.addEventListener("blur", function () {
      // After a click on an option (its mousedown keeps the focus here anyway).
      window.setTimeout(function () {
        if (document.activeElement !== self.input) {
          self.close();
        }
      }, 150);
    });
    this.listbox.addEventListener("mousedown", function (event) {
      event.preventDefault(); // keep the focus in the input
    });
    this.listbox.addEventListener("click", function (event) {
      var item = event.target.closest("[role=option]");
      if (item) {
        self.choose(Number(item.getAttribute("data-index")));
      }
    });
    this.widget.querySelectorAll("[data-param]").forEach(function (control) {
      control.addEventListener("change", function () {
        if (self.input.value.trim() || !self.listbox.hidden) {
          self.search();
        }
      });
    });
    this.chosen.addEventListener("click", function (event) {
      var button = event.target.closest("button[name=pick]");
      if (!button) {
        return;
      }
      event.preventDefault();
      self.remove(button);
    });
    this.chosen.querySelectorAll("button[name=pick]").forEach(function (button) {
      button.type = "button";
    });
    // Suggestions the page offers before any search: chosen here, without sending the form.
    this.widget.querySelectorAll(".picker-suggestions button[name=pick]").forEach(function (button) {
      button.type = "button";
      button.addEventListener("click", function () {
        self.pick({
          id: Number(button.value.split(":").pop()),
          label: button.getAttribute("data-label") || "",
          detail: button.getAttribute("data-detail") || ""
        });
        var item = button.closest("li");
        if (item) {
          item.parentNode.removeChild(item);
        }
      });
    });
  };

  Picker.prototype.schedule = function () {
    var self = this;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(function () {
      self.search();
    }, DELAY_MS);
  };

  Picker.prototype.chosenIds = function () {
    var ids = [];
    this.chosen.querySelectorAll("input[type=hidden][name='" + this.name + "']").forEach(function (el) {
      if (el.value) {
        ids.push(el.value);
      }
    });
    return ids;
  };

  Picker.prototype.search = function () {
    var self = this;
    var url = new URL(this.source, window.location.href);
    url.searchParams.set("q", this.input.value.trim());
    this.widget.querySelectorAll("[data-param]").forEach(function (control) {
      if (control.value) {
        url.searchParams.set(control.getAttribute("data-param"), control.value);
      }
    });
    if (this.multiple) {
      this.chosenIds().forEach(function (id) {
        url.searchParams.append("exclude", id);
      });
    }
    this.request += 1;
    var ticket = this.request;
    window.fetch(url.toString(), {
      headers: { Accept: "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      return response.json();
    }).then(function (data) {
      if (ticket === self.request) {
        self.show(data.results || [], Boolean(data.more));
      }
    }).catch(function () {
      if (ticket === self.request) {
        self.close();
        self.announce(say(self.widget, "failed"));
      }
    });
  };

  Picker.prototype.show = function (results, more) {
    var self = this;
    this.options = results;
    this.active = -1;
    this.input.removeAttribute("aria-activedescendant");
    this.listbox.textContent = "";
    results.forEach(function (result, index) {
      var item = document.createElement("li");
      item.id = self.baseId + "-" + index;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", "false");
      item.setAttribute("data-index", String(index));
      item.appendChild(document.createTextNode(result.label));
      if (result.detail) {
        var detail = document.createElement("span");
        detail.className = "muted";
        detail.textContent = result.detail;
        item.appendChild(document.createTextNode(" "));
        item.appendChild(detail);
      }
      self.listbox.appendChild(item);
    });
    var count = results.length;
    if (this.addAllButton) {
      this.addAllButton.hidden = count < 2 || more;
      this.addAllButton.textContent = say(this.widget, "add-all", { n: count });
    }
    var message;
    if (!count) {
      message = say(this.widget, "none");
    } else if (more) {
      message = say(this.widget, "more", { n: count });
    } else if (count === 1) {
      message = say(this.widget, "one");
    } else {
      message = say(this.widget, "count", { n: count });
    }
    if (count) {
      this.listbox.hidden = false;
      this.input.setAttribute("aria-expanded", "true");
    } else {
      this.close();
    }
    this.announce(message);
  };

  Picker.prototype.announce = function (message) {
    // Emptied first, so the same words said twice are read twice.
    var status = this.status;
    status.textContent = "";
    window.setTimeout(function () {
      status.textContent = message;
    }, 50);
  };

  Picker.prototype.close = function () {
    this.listbox.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
    this.active = -1;
  };

  Picker.prototype.isOpen = function () {
    return !this.listbox.hidden;
  };

  Picker.prototype.move = function (step) {
    var items = this.listbox.querySelectorAll("[role=option]");
    if (!items.length) {
      return;
    }
    if (this.active >= 0) {
      items[this.active].classList.remove("is-active");
      items[this.active].setAttribute("aria-selected", "false");
    }
    var next = this.active + step;
    if (next < 0) {
      next = items.length - 1;
    } else if (next >= items.length) {
      next = 0;
    }
    this.active = next;
    var item = items[next];
    item.classList.add("is-active");
    item.setAttribute("aria-selected", "true");
    this.input.setAttribute("aria-activedescendant", item.id);
    item.scrollIntoView({ block: "nearest" });
  };

  Picker.prototype.onKey = function (event) {
    switch (event.key) {
      case "ArrowDown":
        event.preventDefault();
        if (this.isOpen()) {
          this.move(1);
        } else {
          this.search();
        }
        break;
      case "ArrowUp":
        event.preventDefault();
        if (this.isOpen()) {
          this.move(-1);
        }
        break;
      case "Enter":
        if (this.isOpen() && this.active >= 0) {
          event.preventDefault();
          this.choose(this.active);
        } else if (this.input.value.trim()) {
          // Typed a search: list its matches rather than send the form.
          event.preventDefault();
          window.clearTimeout(this.timer);
          this.search();
        }
        break;
      case "Escape":
        if (this.isOpen()) {
          event.preventDefault();
          this.close();
        } else if (this.input.value) {
          event.preventDefault();
          this.input.value = "";
        }
        break;
      default:
        break;
    }
  };

  Picker.prototype.removeButton = function (result) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "picker-button";
    button.name = "pick";
    button.value = "remove:" + this.name + ":" + result.id;
    button.textContent = say(this.widget, "remove");
    button.setAttribute("aria-label", say(this.widget, "remove-label", { name: result.label }));
    return button;
  };

  Picker.prototype.describe = function (holder, result) {
    var name = document.createElement(this.multiple ? "span" : "strong");
    name.textContent = result.label;
    holder.appendChild(name);
    if (result.detail) {
      var detail = document.createElement("span");
      detail.className = "muted";
      detail.textContent = result.detail;
      holder.appendChild(document.createTextNode(" "));
      holder.appendChild(detail);
    }
    holder.appendChild(document.createTextNode(" "));
    holder.appendChild(this.removeButton(result));
  };

  Picker.prototype.choose = function (index) {
    var result = this.options[index];
    if (result) {
      this.pick(result);
    }
  };

  Picker.prototype.addAll = function () {
    var self = this;
    var results = this.options;
    results.forEach(function (result) {
      self.append(result);
    });
    this.options = [];
    this.addAllButton.hidden = true;
    this.input.value = "";
    this.close();
    this.input.focus();
    this.announce(say(this.widget, "added-all", { n: results.length }));
    this.widget.dispatchEvent(new CustomEvent("picker:change", { bubbles: true }));
  };

  Picker.prototype.append = function (result) {
    var list = this.chosen.querySelector(".picker-list");
    var item = document.createElement("li");
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = this.name;
    hidden.value = String(result.id);
    item.appendChild(hidden);
    this.describe(item, result);
    list.appendChild(item);
    var none = this.chosen.querySelector(".picker-none");
    if (none) {
      none.hidden = true;
    }
  };

  Picker.prototype.pick = function (result) {
    if (this.multiple) {
      this.append(result);
      this.announce(say(this.widget, "added", { name: result.label }));
    } else {
      this.chosen.querySelector("input[type=hidden]").value = String(result.id);
      var current = this.chosen.querySelector(".picker-current");
      current.textContent = say(this.widget, "chosen-label") + " ";
      this.describe(current, result);
      this.announce(say(this.widget, "chosen", { name: result.label }));
    }
    this.input.value = "";
    this.close();
    if (this.addAllButton) {
      this.addAllButton.hidden = true;
    }
    this.input.focus();
    this.widget.dispatchEvent(new CustomEvent("picker:change", { bubbles: true }));
  };

  Picker.prototype.remove = function (button) {
    var label = button.getAttribute("aria-label") || "";
    var holder = button.closest("li") || button.closest(".picker-current");
    var nameEl = holder.querySelector("span, strong");
    var name = nameEl ? nameEl.textContent : label;
    if (this.multiple) {
      holder.parentNode.removeChild(holder);
      var none = this.chosen.querySelector(".picker-none");
      if (none && !this.chosenIds().length) {
        none.hidden = false;
      }
    } else {
      this.chosen.querySelector("input[type=hidden]").value = "";
      holder.textContent = say(this.widget, "empty");
    }
    this.announce(say(this.widget, "removed", { name: name }));
    this.input.focus();
    this.widget.dispatchEvent(new CustomEvent("picker:change", { bubbles: true }));
  };

  function start() {
    document.querySelectorAll("[data-picker]").forEach(function (widget) {
      if (widget.querySelector(".picker-search input[type=search]") && window.fetch) {
        widget.picker = new Picker(widget);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
