// Launcher enhancements (the page works without them): a live sentence describing the launch about to
// happen, and the last choice remembered for this browser tab.
(function () {
  'use strict';
  var form = document.getElementById('launch-form');
  var summary = document.getElementById('launch-summary');
  if (!form || !summary) return;
  var fields = ['practitioner', 'patient', 'app', 'encounter'];
  var KEY = 'ehr-launcher-choice';

  function selectedText(id) {
    var el = document.getElementById(id);
    if (!el || !el.value) return '';
    return el.tagName === 'SELECT' ? el.options[el.selectedIndex].text : el.value;
  }

  function describe() {
    var who = selectedText('practitioner');
    var patient = selectedText('patient');
    var app = selectedText('app');
    if (!who || !patient) {
      summary.textContent = 'Choose a clinician and a patient to launch.';
      return;
    }
    var encounter = selectedText('encounter');
    summary.textContent =
      who + ' will open ' + app + ' for ' + patient + (encounter ? ' (encounter ' + encounter + ')' : '') + '.';
  }

  function remember() {
    var choice = {};
    fields.forEach(function (id) {
      var el = document.getElementById(id);
      if (el) choice[id] = el.value;
    });
    try {
      sessionStorage.setItem(KEY, JSON.stringify(choice));
    } catch {
      /* storage may be off */
    }
  }

  try {
    var saved = JSON.parse(sessionStorage.getItem(KEY) || '{}');
    fields.forEach(function (id) {
      var el = document.getElementById(id);
      if (el && typeof saved[id] === 'string') el.value = saved[id];
    });
  } catch {
    /* ignore a broken saved choice */
  }

  form.addEventListener('change', function () {
    describe();
    remember();
  });
  form.addEventListener('input', describe);
  describe();
})();
