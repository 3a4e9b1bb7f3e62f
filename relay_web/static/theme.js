// Applies the remembered theme before the page is drawn. "auto" (no stored choice) follows the system.
(function () {
  "use strict";
  try {
    var theme = window.localStorage.getItem("relay.theme");
    if (theme === "light" || theme === "dark") {
      document.documentElement.setAttribute("data-theme", theme);
    }
  } catch (e) {
    // Storage can be disabled; the system theme still applies.
  }
})();
