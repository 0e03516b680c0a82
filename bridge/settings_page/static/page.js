// Progressive enhancement only: every form works without this file.
// A <select data-autosubmit> applies itself when changed (the Show button stays for keyboards and no-JS);
// data-autosubmit="<button id>" submits with that button (the mapping form's template choice asks for a preview,
// which shows the chosen template's fields): a button with data-fetch does so in the background, as its click does.
document.addEventListener("change", function (event) {
  var field = event.target;
  if (field instanceof HTMLSelectElement && field.hasAttribute("data-autosubmit") && field.form) {
    var submitter = field.dataset.autosubmit ? document.getElementById(field.dataset.autosubmit) : null;
    if (submitter && submitter.hasAttribute("data-fetch")) {
      submitter.click();
    } else if (submitter) {
      field.form.requestSubmit(submitter);
    } else {
      field.form.requestSubmit();
    }
  }
});

// The fields of a form, by name: when an answer's differ from the page's, the template changed.
function fieldNames(form) {
  return form ? Array.prototype.map.call(form.elements, function (element) { return element.name; }).join(" ") : "";
}

// The page's <main> replaced by the answer's, focus staying on the element of the same id.
function replaceMain(answer) {
  var fresh = answer.querySelector("main"), main = document.querySelector("main");
  if (!fresh || !main) { return false; }
  var focused = document.activeElement ? document.activeElement.id : "";
  main.textContent = "";
  Array.prototype.forEach.call(fresh.childNodes, function (node) { main.appendChild(document.importNode(node, true)); });
  var again = focused ? document.getElementById(focused) : null;
  if (again) { again.focus(); }
  return true;
}

// A <button data-fetch="<id>"> (the mapping form's Preview) posts its form in the background. An answer like the page
// (no findings then or now, the same fields) has its element of that id put in place of the page's, a live region
// whose change screen readers announce. An answer with findings (422: the form again, each finding next to its field)
// or with other fields (another template) takes the place of the page's <main>. Anything else (another status, a
// network error) submits the form the ordinary way, and the server's answer is the page.
document.addEventListener("click", function (event) {
  var button = event.target instanceof Element ? event.target.closest("button[data-fetch]") : null;
  if (!button || !button.form || button.dataset.fetching || !window.fetch || !window.DOMParser) {
    return;
  }
  event.preventDefault();
  var form = button.form, targetId = button.dataset.fetch;
  var submitNormally = function () {
    button.dataset.fetching = "no";
    form.requestSubmit(button);
  };
  var body = new FormData(form);
  button.dataset.fetching = "yes";
  fetch(button.formAction, { method: "POST", body: body, credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok && response.status !== 422) { throw new Error(String(response.status)); }
      return response.text();
    })
    .then(function (html) {
      var answer = new DOMParser().parseFromString(html, "text/html");
      var fresh = answer.getElementById(targetId), target = document.getElementById(targetId);
      var findings = answer.querySelector(".field-errors, #general-errors") || document.querySelector(".field-errors, #general-errors");
      var sameFields = fieldNames(answer.getElementById(form.id)) === fieldNames(form);
      if (findings || !sameFields) {
        return replaceMain(answer) ? undefined : submitNormally();
      }
      if (!fresh || !target) { return submitNormally(); }
      target.textContent = "";
      Array.prototype.forEach.call(fresh.childNodes, function (node) { target.appendChild(document.importNode(node, true)); });
      delete button.dataset.fetching;
    })
    .catch(submitNormally);
});
