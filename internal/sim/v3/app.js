// seftsim markup v3: every view of both sites is drawn here from the JSON
// API under /SITE/api/. docs/seftsim.md describes the DOM this produces;
// change both together.
(() => {
  'use strict';

  const site = document.body.dataset.site; // "download" or "upload"
  const paging = document.body.dataset.paging || 'append';
  const api = '/' + site + '/api/';
  const app = document.getElementById('app');
  const signOutButton = document.getElementById('sign-out');
  // Rows arrive a moment after their data, as on a busy real portal: the
  // delay is the page's own timer, not the server's.
  const RENDER_DELAY_MS = 400;

  const TEXT = {
    gone: 'This link is no longer available',
    unavailable: 'Service temporarily unavailable',
    signedOut: 'You have been signed out',
    empty: 'Nothing to collect right now.',
    received: 'Upload received',
    expiredPassword: 'Your password has expired. Choose a new password.',
  };

  let csrf = '';
  let signedIn = false;

  // el builds an element: attributes (false/null ones left out), then
  // children (strings become text).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v === null || v === undefined) continue;
      e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) {
      if (c !== null && c !== undefined) e.append(c);
    }
    return e;
  }

  function show(...nodes) {
    app.replaceChildren(...nodes);
  }

  // call is one API request. It never throws: a network failure is status 0.
  async function call(method, path, payload) {
    const init = { method, credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf } };
    if (payload !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(payload);
    }
    try {
      const r = await fetch(api + path, init);
      let data = {};
      try {
        data = await r.json();
      } catch (e) {
        data = {};
      }
      return { status: r.status, data };
    } catch (e) {
      return { status: 0, data: {} };
    }
  }

  // trouble handles the answers every view treats alike. It returns the
  // text to show in place, '' when it has dealt with the answer itself.
  function trouble(res) {
    if (res.status === 401 && signedIn) {
      signedOutDialog();
      return '';
    }
    if (res.status === 410) return TEXT.gone;
    if (res.status === 0 || res.status >= 500) return TEXT.unavailable;
    return res.data.message || TEXT.unavailable;
  }

  function say(node, text) {
    node.textContent = text;
    node.hidden = text === '';
  }

  async function start() {
    const res = await call('GET', 'session');
    if (res.status !== 200) {
      show(el('p', { id: 'page-problem', class: 'problem', role: 'alert' }, TEXT.unavailable));
      return;
    }
    csrf = res.data.csrf;
    route(res.data.state, res.data.account);
  }

  function route(state, account) {
    signedIn = state === 'notice' || state === 'ready';
    signOutButton.hidden = !signedIn;
    switch (state) {
      case 'passphrase': return passphraseView(account);
      case 'renew': return renewView();
      case 'notice': return noticeView();
      case 'ready': return site === 'download' ? collectView() : sendView();
      default: return accountView('');
    }
  }

  // --- sign in, step 1: the account name --------------------------------
  function accountView(message) {
    const input = el('input', { id: 'account-name', name: 'account', type: 'text', autocomplete: 'username', spellcheck: 'false' });
    const problem = el('div', { id: 'signin-problem', class: 'problem', role: 'alert', hidden: !message }, message);
    const next = el('button', { type: 'submit', id: 'next-step', class: 'primary' }, 'Next');
    const form = el('form', { id: 'account-form', class: 'card', novalidate: true },
      el('h1', {}, 'Sign in'),
      el('div', { class: 'field' }, el('label', { for: 'account-name' }, 'Account name'), input),
      problem, next);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      next.disabled = true;
      const res = await call('POST', 'account', { account: input.value });
      next.disabled = false;
      if (res.status === 200) {
        passphraseView(res.data.account);
        return;
      }
      say(problem, trouble(res));
    });
    show(form);
    input.focus();
  }

  // --- sign in, step 2: the passphrase ----------------------------------
  function passphraseView(account) {
    const input = el('input', { id: 'passphrase', name: 'passphrase', type: 'password', autocomplete: 'current-password' });
    const problem = el('div', { id: 'signin-problem', class: 'problem', role: 'alert', hidden: true });
    const wait = el('p', { id: 'signin-wait', class: 'wait', role: 'status', hidden: true }, 'Checking…');
    const enter = el('button', { type: 'submit', id: 'enter', class: 'primary' }, 'Enter');
    const other = el('button', { type: 'button', id: 'other-account', class: 'quiet' }, 'Use another account');
    const form = el('form', { id: 'passphrase-form', class: 'card', novalidate: true },
      el('h1', {}, 'Sign in'),
      el('p', { class: 'who' }, 'Account ', el('strong', { id: 'who-name' }, account)),
      el('div', { class: 'field' }, el('label', { for: 'passphrase' }, 'Passphrase'), input),
      problem, wait, enter, other);
    other.addEventListener('click', () => accountView(''));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      // One press, one request: nothing here ever sends the passphrase again.
      enter.disabled = true;
      say(problem, '');
      wait.hidden = false;
      const res = await call('POST', 'passphrase', { account, passphrase: input.value });
      wait.hidden = true;
      enter.disabled = false;
      input.value = '';
      if (res.status === 200 && res.data.outcome === 'signed-in') {
        csrf = res.data.csrf;
        route('notice');
        return;
      }
      if (res.status === 200 && res.data.outcome === 'password-expired') {
        route('renew');
        return;
      }
      if (res.status === 409) {
        accountView(res.data.message);
        return;
      }
      say(problem, trouble(res));
    });
    show(form);
    input.focus();
  }

  // --- after sign-in: the notice to accept ------------------------------
  function noticeView() {
    const box = el('input', { type: 'checkbox', id: 'notice-read', name: 'notice-read' });
    const proceed = el('button', { type: 'button', id: 'proceed', class: 'primary', disabled: true }, 'Proceed');
    const problem = el('div', { id: 'notice-problem', class: 'problem', role: 'alert', hidden: true });
    box.addEventListener('change', () => { proceed.disabled = !box.checked; });
    proceed.addEventListener('click', async () => {
      proceed.disabled = true;
      const res = await call('POST', 'notice', { read: box.checked });
      if (res.status === 200) {
        route('ready');
        return;
      }
      proceed.disabled = !box.checked;
      say(problem, trouble(res));
    });
    show(el('section', { id: 'notice', class: 'card', 'aria-labelledby': 'notice-title' },
      el('h1', { id: 'notice-title' }, 'Before you continue'),
      el('div', { class: 'notice-text' },
        el('p', {}, 'Files on this service hold patient-level data. Collect only what your data sharing agreement covers, keep it encrypted, and delete it when the agreement says so.'),
        el('p', {}, 'Every action is recorded.')),
      el('div', { class: 'tick' }, box, el('label', { for: 'notice-read' }, 'I have read the notice')),
      problem, proceed));
  }

  // --- an expired password: the change form (the bot must never use it) -
  function renewView() {
    const problem = el('div', { id: 'renew-problem', class: 'problem', role: 'alert', hidden: true });
    const fields = [['renew-current', 'Current password'], ['renew-new', 'New password'], ['renew-confirm', 'Confirm new password']]
      .map(([id, label]) => el('div', { class: 'field' }, el('label', { for: id }, label),
        el('input', { id, name: id, type: 'password', autocomplete: id === 'renew-current' ? 'current-password' : 'new-password' })));
    const form = el('form', { id: 'renew-form', class: 'card', novalidate: true },
      el('h1', {}, 'Change your password'),
      el('p', { id: 'renew-text', class: 'problem', role: 'alert' }, TEXT.expiredPassword),
      ...fields, problem,
      el('button', { type: 'submit', id: 'change-password', class: 'primary' }, 'Change password'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const v = (id) => document.getElementById(id).value;
      const res = await call('POST', 'password', { current: v('renew-current'), new: v('renew-new'), confirm: v('renew-confirm') });
      say(problem, res.status === 200 ? (res.data.message || '') : trouble(res));
    });
    show(form);
  }

  // --- session expiry: an in-page dialog, not a redirect ----------------
  function signedOutDialog() {
    signedIn = false;
    signOutButton.hidden = true;
    if (document.getElementById('signed-out')) return;
    const back = el('button', { type: 'button', id: 'return-to-sign-in', class: 'primary' }, 'Return to sign in');
    const veil = el('div', { class: 'veil' },
      el('div', { id: 'signed-out', class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'signed-out-title' },
        el('h2', { id: 'signed-out-title' }, TEXT.signedOut),
        el('p', {}, 'For your security you were signed out. Files you had not collected are still waiting.'),
        back));
    back.addEventListener('click', () => {
      veil.remove();
      start();
    });
    document.body.append(veil);
    back.focus();
  }

  signOutButton.addEventListener('click', async () => {
    await call('POST', 'sign-out', {});
    signedIn = false;
    start();
  });

  // --- the download site: files to collect ------------------------------
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  function stamp(iso) {
    const [y, m, d] = iso.split('-').map(Number);
    return d + ' ' + MONTHS[m - 1] + ' ' + y;
  }

  // weight rounds a size the way the portal shows it (1 KB = 1024 bytes).
  function weight(n) {
    if (n < 1024) return n + ' bytes';
    if (n < 1024 * 1024) return Math.round(n / 1024) + ' KB';
    return (n / (1024 * 1024)).toFixed(1) + ' MB';
  }

  // label shortens a name for the eye; the full name is in data-file only.
  function label(name) {
    const chars = Array.from(name);
    return chars.length > 18 ? chars.slice(0, 18).join('') + '…' : name;
  }

  function collectView() {
    const list = el('div', { id: 'parcels', class: 'parcels', role: 'list', 'aria-label': 'Files', 'aria-busy': 'true' });
    const nothing = el('p', { id: 'nothing', class: 'nothing', hidden: true }, TEXT.empty);
    const problem = el('div', { id: 'list-problem', class: 'problem', role: 'alert', hidden: true });
    const loading = el('p', { id: 'loading', class: 'wait', role: 'status' }, 'Fetching your files…');
    const controls = el('div', { id: 'list-controls', class: 'controls' });
    show(el('section', { id: 'collect', 'aria-labelledby': 'collect-title' },
      el('h1', { id: 'collect-title' }, 'Files to collect'),
      problem, loading, list, nothing, controls));

    let page = 0;
    let busy = false;

    async function load(n) {
      if (busy) return;
      busy = true;
      list.setAttribute('aria-busy', 'true');
      loading.hidden = false;
      say(problem, '');
      const res = await call('GET', 'files?page=' + n);
      if (res.status !== 200) {
        busy = false;
        loading.hidden = true;
        list.setAttribute('aria-busy', 'false');
        say(problem, trouble(res));
        return;
      }
      setTimeout(() => {
        draw(res.data);
        busy = false;
      }, RENDER_DELAY_MS);
    }

    function draw(d) {
      page = d.page;
      loading.hidden = true;
      const rows = d.files.map(row);
      if (paging === 'inplace') list.replaceChildren(...rows);
      else list.append(...rows);
      nothing.hidden = d.total > 0;
      list.hidden = d.total === 0;
      list.setAttribute('aria-busy', 'false');
      if (paging === 'inplace') {
        controls.replaceChildren();
        if (d.pages > 1) {
          const newer = el('button', { type: 'button', id: 'page-newer', class: 'pager', disabled: page <= 1 }, 'Newer');
          const older = el('button', { type: 'button', id: 'page-older', class: 'pager', disabled: page >= d.pages }, 'Older');
          newer.addEventListener('click', () => load(page - 1));
          older.addEventListener('click', () => load(page + 1));
          controls.append(el('nav', { class: 'pages', 'aria-label': 'Pages' },
            newer, el('span', { id: 'page-where' }, 'Page ' + page + ' of ' + d.pages), older));
        }
      } else if (page < d.pages) {
        if (!document.getElementById('show-more')) {
          const more = el('button', { type: 'button', id: 'show-more', class: 'more' }, 'Show more');
          more.addEventListener('click', () => load(page + 1));
          controls.replaceChildren(more);
        }
      } else {
        controls.replaceChildren();
      }
    }

    load(1);
  }

  function row(f) {
    const note = el('div', { class: 'parcel-note', role: 'alert', hidden: true });
    const go = el('div', { class: 'collect', role: 'button', tabindex: '0' }, 'Collect');
    const r = el('div', { class: 'parcel', role: 'listitem', 'data-file': f.name, 'data-route': f.route },
      el('div', { class: 'parcel-label' }, label(f.name)),
      el('div', { class: 'parcel-weight' }, weight(f.size)),
      el('div', { class: 'parcel-stamp' }, stamp(f.date)),
      go, note);
    const run = () => {
      say(note, '');
      (f.route === 'blob' ? viaBlob : viaForm)(f, note);
    };
    go.addEventListener('click', run);
    go.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        run();
      }
    });
    return r;
  }

  // Route (a): a one-time ticket from the API, then a form built here and
  // submitted; the answer is an attachment, so the page stays.
  async function viaForm(f, note) {
    const res = await call('POST', 'tickets', { ref: f.ref });
    if (res.status !== 200) {
      say(note, trouble(res));
      return;
    }
    const form = el('form', { method: 'post', action: res.data.action, hidden: true },
      el('input', { type: 'hidden', name: 'ticket', value: res.data.ticket }));
    document.body.append(form);
    form.submit();
    setTimeout(() => form.remove(), 10000);
  }

  // Route (b): the bytes by fetch(), saved through a blob: URL and an
  // <a download> that carries the full name.
  async function viaBlob(f, note) {
    let r;
    try {
      r = await fetch(api + 'content', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' },
        body: JSON.stringify({ ref: f.ref }),
      });
    } catch (e) {
      say(note, TEXT.unavailable);
      return;
    }
    if (!r.ok) {
      let data = {};
      try { data = await r.json(); } catch (e) { data = {}; }
      say(note, trouble({ status: r.status, data }));
      return;
    }
    let blob;
    try {
      blob = await r.blob();
    } catch (e) {
      say(note, TEXT.unavailable); // the connection broke mid-file
      return;
    }
    const want = r.headers.get('Content-Length');
    if (want !== null && blob.size !== Number(want)) {
      say(note, TEXT.unavailable);
      return;
    }
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: f.name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  // --- the upload site: a hidden file input behind a button -------------
  function sendView() {
    const input = el('input', { type: 'file', id: 'cohort-file', name: 'cohort', hidden: true });
    const choose = el('button', { type: 'button', id: 'choose-file' }, 'Choose file');
    const chosen = el('span', { id: 'chosen-name' }, 'No file chosen');
    const send = el('button', { type: 'button', id: 'send-file', class: 'primary', disabled: true }, 'Send');
    const done = el('div', { id: 'send-done', class: 'done', role: 'status', hidden: true });
    const problem = el('div', { id: 'send-problem', class: 'problem', role: 'alert', hidden: true });
    choose.addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      const f = input.files[0];
      chosen.textContent = f ? f.name : 'No file chosen';
      send.disabled = !f;
      say(done, '');
      say(problem, '');
    });
    send.addEventListener('click', async () => {
      const f = input.files[0];
      if (!f) return;
      send.disabled = true;
      say(problem, '');
      const body = new FormData();
      body.append('cohort', f, f.name);
      let res;
      try {
        const r = await fetch(api + 'upload', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf }, body });
        let data = {};
        try { data = await r.json(); } catch (e) { data = {}; }
        res = { status: r.status, data };
      } catch (e) {
        res = { status: 0, data: {} };
      }
      if (res.status === 200) {
        say(done, res.data.message || TEXT.received);
        return; // Send stays disabled until another file is chosen
      }
      send.disabled = false;
      say(problem, trouble(res));
    });
    show(el('section', { id: 'send', class: 'card', 'aria-labelledby': 'send-title' },
      el('h1', { id: 'send-title' }, 'Send a file'),
      el('p', {}, 'Send your cohort file. You will not be told here whether its content is correct.'),
      el('div', { class: 'picker' }, input, choose, chosen),
      send, done, problem));
  }

  start();
})();
