// Mercato's few behaviours, loaded (deferred) by every page.

// Quick fill: a button carrying data-fill-url fills the feed URL and the language.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-fill-url]");
  if (!button) return;
  const form = button.closest("form");
  form.querySelector("[name=source_url]").value = button.dataset.fillUrl;
  const language = form.querySelector("[name=language]");
  if (language && button.dataset.fillLang) language.value = button.dataset.fillLang;
});

// The Menu button of a narrow screen opens and closes the top bar's menu.
document.addEventListener("click", (event) => {
  const toggle = event.target.closest("[data-menu-toggle]");
  if (!toggle) return;
  const menu = document.getElementById(toggle.getAttribute("aria-controls"));
  const open = toggle.getAttribute("aria-expanded") !== "true";
  toggle.setAttribute("aria-expanded", String(open));
  menu.classList.toggle("open", open);
});

// Escape closes an open menu and gives the focus back to its button.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const toggle = document.querySelector("[data-menu-toggle][aria-expanded=true]");
  if (!toggle) return;
  toggle.setAttribute("aria-expanded", "false");
  document.getElementById(toggle.getAttribute("aria-controls")).classList.remove("open");
  toggle.focus();
});

// htmx runs without eval under the Content-Security-Policy: an attribute that needs it (a
// trigger filter, hx-on, a js: value) does nothing, so say so where a developer looks.
document.addEventListener("htmx:evalDisallowedError", (event) => {
  console.error("htmx needs eval here, which the Content-Security-Policy forbids:", event.target);
});

// A field marked data-select-on-focus selects its whole value when focused (a new API token,
// to copy it): no inline onfocus handler, which the Content-Security-Policy would block.
document.addEventListener("focusin", (event) => {
  if (event.target.matches && event.target.matches("[data-select-on-focus]")) event.target.select();
});
