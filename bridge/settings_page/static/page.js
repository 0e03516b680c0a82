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

// A <button data-fetch="<id>"> (the mapping form's Preview) posts its form in the background and puts the
// answer's content of the element of that id in place, without reloading the page. When the answer has findings about the
// fields, or anything goes wrong, the form is submitted the ordinary way (the page shows them next to the fields).
document.addEventListener("click", function (event) {
  var button = event.target instanceof Element ? event.target.closest("button[data-fetch]") : null;
  if (!button || !button.form || button.dataset.fetching || !window.fetch || !window.DOMParser) {
    return;
  }
  event.preventDefault();
  var form = button.form, target = document.getElementById(button.dataset.fetch);
  var submitNormally = function () {
    button.dataset.fetching = "no";
    form.requestSubmit(button);
  };
  var body = new FormData(form);
  button.dataset.fetching = "yes";
  fetch(button.formAction, { method: "POST", body: body, credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.text();
    })
    .then(function (html) {
      var answer = new DOMParser().parseFromString(html, "text/html");
      var fresh = answer.getElementById(button.dataset.fetch);
      var findings = answer.querySelector(".field-errors, #general-errors") || document.querySelector(".field-errors, #general-errors");
      if (!fresh || !target || findings) { return submitNormally(); }
      // The live region stays (screen readers announce what changes inside it): only its content is replaced.
      target.textContent = "";
      Array.prototype.forEach.call(fresh.childNodes, function (node) { target.appendChild(document.importNode(node, true)); });
      delete button.dataset.fetching;
    })
    .catch(submitNormally);
});
