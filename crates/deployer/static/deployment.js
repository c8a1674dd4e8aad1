// Live status on /deployments/{id}: follows the deployment's Server-Sent
// Events and updates the page in place. Values from the server are set as
// text (textContent) or as checked http(s) links, never as HTML.
(function () {
  'use strict';
  var root = document.getElementById('deployment');
  if (!root || !window.EventSource) return;
  var LABELS = { pending: 'Queued', in_progress: 'Building and deploying', live: 'Live', failed: 'Failed', untracked: 'Tracking stopped' };
  var statusEl = document.getElementById('status');
  var tbody = document.getElementById('services');

  function httpUrl(raw) {
    try {
      var u = new URL(raw);
      return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function row(serviceId) {
    var rows = tbody.querySelectorAll('tr[data-service-id]');
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute('data-service-id') === serviceId) return rows[i];
    }
    return null;
  }

  function showUrl(tr) {
    var href = httpUrl(tr.getAttribute('data-url') || '');
    var cell = tr.querySelector('.svc-url');
    if (!href || !cell) return;
    var a = document.createElement('a');
    a.href = href;
    a.rel = 'noopener noreferrer';
    a.textContent = href;
    cell.replaceChildren(a);
  }

  function setStatus(status) {
    if (!Object.prototype.hasOwnProperty.call(LABELS, status)) return;
    statusEl.textContent = LABELS[status];
    statusEl.className = 'badge ' + status;
    root.setAttribute('data-status', status);
    if (status === 'live') {
      tbody.querySelectorAll('tr[data-service-id]').forEach(showUrl);
    }
  }

  function setService(serviceId, deployStatus, url) {
    var tr = row(serviceId);
    if (!tr) return;
    if (url) tr.setAttribute('data-url', url);
    var cell = tr.querySelector('.svc-status');
    if (cell) cell.textContent = deployStatus;
  }

  var events = new EventSource(root.getAttribute('data-events'));

  // The stream ends at a final status, whether it arrives as a change or is
  // already there in the first snapshot (the deploy finished before the
  // page's stream opened).
  function finish(status, why) {
    events.close();
    var note = document.getElementById('refresh-note');
    if (!note) return;
    note.textContent = why ? why + ' ' : status === 'failed' ? 'The deployment failed. ' : 'This deployment has finished. ';
    var a = document.createElement('a');
    a.href = window.location.pathname;
    a.textContent = status === 'failed' ? 'Reload to see the build log' : 'Reload';
    note.appendChild(a);
  }

  events.addEventListener('snapshot', function (e) {
    var record = JSON.parse(e.data);
    (record.services || []).forEach(function (s) {
      setService(s.service_id, s.deploy_status, s.url);
    });
    setStatus(record.status);
    var terminal = record.status === 'live' || record.status === 'failed' || record.status === 'untracked';
    if (terminal) finish(record.status, record.note);
  });

  function change(e) {
    var event = JSON.parse(e.data);
    setService(event.service_id, event.deploy_status, event.url);
    setStatus(event.status);
    if (event.terminal) finish(event.status, event.note);
  }
  events.addEventListener('status', change);
  events.addEventListener('done', change);
})();
