// Small progressive enhancements; every page works without this file.
document.addEventListener("click", (event) => {
  const copy = event.target.closest("[data-copy]");
  if (copy) {
    const source = document.getElementById(copy.dataset.copy);
    if (!source) return;
    source.select();
    const done = () => { copy.textContent = "Copied"; setTimeout(() => { copy.textContent = "Copy"; }, 2000); };
    if (navigator.clipboard) navigator.clipboard.writeText(source.value).then(done, () => document.execCommand("copy") && done());
    else if (document.execCommand("copy")) done();
    return;
  }
  const all = event.target.closest("[data-mark-all]");
  if (all) {
    const value = all.dataset.markAll;
    document.querySelectorAll(`input[type=radio][value="${value}"]`).forEach((radio) => { radio.checked = true; });
    event.preventDefault();
  }
});
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
