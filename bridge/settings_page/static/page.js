// Progressive enhancement only: every form works without this file.
// A filter <select data-autosubmit> applies itself when changed (the Show button stays for keyboards and no-JS).
document.addEventListener("change", function (event) {
  var field = event.target;
  if (field instanceof HTMLSelectElement && field.hasAttribute("data-autosubmit") && field.form) {
    field.form.requestSubmit();
  }
});
