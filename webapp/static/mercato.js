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
