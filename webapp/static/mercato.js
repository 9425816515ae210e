// Quick fill: a button carrying data-fill-url fills the feed URL and the language.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-fill-url]");
  if (!button) return;
  const form = button.closest("form");
  form.querySelector("[name=source_url]").value = button.dataset.fillUrl;
  const language = form.querySelector("[name=language]");
  if (language && button.dataset.fillLang) language.value = button.dataset.fillLang;
});
