// Progressive enhancement only: every form works without this file.
// A <select data-autosubmit> applies itself when changed (the Show button stays for keyboards and no-JS);
// data-autosubmit="<button id>" submits with that button (the mapping form's template choice asks for a preview,
// which shows the chosen template's parameter fields).
document.addEventListener("change", function (event) {
  var field = event.target;
  if (field instanceof HTMLSelectElement && field.hasAttribute("data-autosubmit") && field.form) {
    var submitter = field.dataset.autosubmit ? document.getElementById(field.dataset.autosubmit) : null;
    if (submitter) {
      field.form.requestSubmit(submitter);
    } else {
      field.form.requestSubmit();
    }
  }
});
