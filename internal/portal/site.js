// The SEFT half of the in-page script: what a profile says about the
// portal's pages (sign-in outcomes, expired sessions, the listing's rows,
// names, sizes and pager, the upload's answer), read in the page. page.js
// calls it as (FUNC)(E) before each op, with E its helpers and the page
// config E.P (the profile, see Profile.forPage); it registers the ops
// below, which the portal calls by name through the engine's Eval and
// Await. Like page.js it reads pages and never writes to them, except
// what a user would do (click a row's download control).
(function (E) {
  const { P, norm, low, arr, textOf, all, first, visible, visibleFirst, enabled, why, has, waitFor } = E;
  const F = P.files || {};
  function field(f, row) {
    if (!f) return '';
    const e = f.in && arr(f.in).length ? first(f.in, row) : row;
    if (!e) return '';
    // File names are kept exactly: raw text (only trimmed), raw attribute.
    let v = f.attr ? e.getAttribute(f.attr) || '' : e.textContent.trim();
    if (f.regex) {
      const m = new RegExp(f.regex).exec(v);
      v = m ? (m[1] !== undefined ? m[1] : m[0]) : '';
    }
    return v;
  }
  const rowsNow = () => all(F.row).els;
  function rowFor(name, nth) {
    let n = 0;
    for (const r of rowsNow()) {
      if (field(F.name, r) !== name) continue;
      if (n++ === nth) return r;
    }
    return null;
  }
  function moreControl() {
    const m = F.more;
    if (!m || m.mode === 'none' || !m.control) return null;
    const e = visibleFirst(m.control);
    return e && enabled(e) ? e : null;
  }
  // moreEvidence says why the list may go on although the profile's more
  // control matched nothing: a visible next/more link or button, "page 1
  // of N" with N > 1, or a count of files above the n rows read. '' when
  // there is none: a list that fits on one page is no alarm.
  function moreEvidence(n) {
    const text = (document.body && document.body.innerText) || '';
    const cut = (s) => s.replace(/\s+/g, ' ').trim().slice(0, 60);
    const pages = /\bpage\s+\d+\s+of\s+(\d+)/i.exec(text);
    if (pages && +pages[1] > 1) return 'the text "' + cut(pages[0]) + '"';
    for (const m of text.matchAll(/\b(\d[\d,]*)\s+(?:files|results|items|records|entries)\b/gi)) {
      if (+m[1].replace(/,/g, '') > n) return 'the text "' + cut(m[0]) + '"';
    }
    for (const e of document.querySelectorAll('a, button, input[type=submit], [role=button]')) {
      if (!visible(e) || !enabled(e)) continue;
      const t = cut(e.innerText || e.value || e.getAttribute('aria-label') || '');
      if (/^(next( page)?|load more|show more|more( files)?|older|[›»>]+)$/i.test(t)) return 'a control "' + t + '"';
      if (e.matches('a[rel~="next"]')) return 'a rel=next link';
    }
    return '';
  }
  function rows() {
    const rs = rowsNow();
    const more = !!moreControl();
    const m = F.more;
    return {
      rows: rs.map((r) => ({ name: field(F.name, r), size: field(F.size, r) })),
      more,
      more_evidence: !more && m && m.mode !== 'none' && rs.length ? moreEvidence(rs.length) : '',
    };
  }
  const L = P.login || {};
  const O = L.outcomes || {};
  const X = P.session_expired || {};
  function state() {
    const steps = L.steps || [];
    const firstTarget = steps.length ? steps[0].fill || steps[0].click || steps[0].check : null;
    return {
      url: location.href,
      signedIn: !!first(O.signed_in),
      loginForm: !!(firstTarget && visibleFirst(firstTarget)),
      refused: has(O.refused),
      locked: has(O.locked),
      passwordExpired: has(O.password_expired),
      expired: !!((X.url_contains && location.href.includes(X.url_contains)) || has(X.text)),
      transient: has(P.transient_text),
      linkExpired: has(P.link_expired_text),
      empty: has(F.empty_text),
      // A notice or terms page that the login's later steps deal with,
      // which a portal may show again on any page.
      interstitial: arr(P.interstitial).some((t) => { const e = visibleFirst(t); return e && enabled(e); }),
    };
  }
  // outcome classifies the page after the password was sent. Order
  // matters: a password-change page may show the signed-in marker too.
  function outcome(next, loginPage) {
    const s = state();
    let which = -1;
    const ready = () => {
      which = arr(next).findIndex((t) => { const e = t && visibleFirst(t); return e && enabled(e); });
      return which >= 0;
    };
    let o = '';
    if (loginPage && !s.signedIn && ready()) o = 'continue';
    else if (s.passwordExpired) o = 'password_expired';
    else if (s.locked) o = 'locked';
    else if (s.refused) o = 'refused';
    else if (s.interstitial) o = 'interstitial';
    else if (s.signedIn) o = 'signed_in';
    else if (s.transient) o = 'transient';
    else if (s.expired) o = 'expired_session';
    else if (ready()) o = 'continue';
    return { outcome: o, state: s, which };
  }
  // settleMs: how long a page must be quiet before a login form or a
  // signed-out text on it counts (a script may be about to draw the list).
  const settleMs = 600;
  function listing(quiet) {
    const s = state();
    const l = rows();
    // A page still being drawn is none of these: it is waited for. So is
    // one still being parsed: its first rows may be there and its pager
    // not yet, and a list read then ends early without a word.
    const parsed = document.readyState !== 'loading';
    const ready = parsed && (l.rows.length > 0 || !!s.empty || !!s.transient || !!s.linkExpired ||
      ((s.loginForm || s.expired || s.interstitial) && quiet >= settleMs));
    return { ready, state: s, listing: l, sig: l.rows.map((r) => r.name).join('\n') };
  }

  E.register('state', () => state());
  // A page shown where a download was expected: wait until it says what it
  // is (its text may be drawn by script after the load event).
  E.register('pageSays', (a) => waitFor(() => {
    const s = state();
    const nav = performance.getEntriesByType('navigation')[0] || {};
    return { ok: !!(s.expired || s.linkExpired || s.transient || s.loginForm || s.interstitial || s.signedIn), state: s, status: nav.responseStatus || 0 };
  }, a.ms));
  // settle: a notice still on screen right after its last step counts
  // only once the page has gone quiet (its answer may be on the way).
  E.register('outcome', (a) => waitFor((q) => {
    const v = outcome(a.next, a.loginPage);
    v.ok = !!v.outcome && !(a.settle && v.outcome === 'interstitial' && q < settleMs);
    return v;
  }, a.ms));
  // Wait until the rows, the empty-list text or another page is shown.
  E.register('listing', (a) => waitFor((q) => { const v = listing(q); v.ok = v.ready; return v; }, a.ms));
  // The list in a frame: wait until the frame is shown, or the page says
  // why not (signed out, an error).
  E.register('listFrame', (a) => waitFor((q) => {
    const s = state(), frame = !!visibleFirst(F.frame);
    return { ok: frame || !!s.transient || !!s.linkExpired || ((s.loginForm || s.expired || s.interstitial) && q >= settleMs), frame, state: s };
  }, a.ms));
  // After a pager click: wait until the rows differ from sig (in place) or
  // grew past count (append), or the control is gone.
  E.register('changed', (a) => waitFor((q) => {
    const v = listing(q);
    v.ok = v.ready && (a.count ? v.listing.rows.length > a.count || !v.listing.more : v.sig !== a.sig && v.listing.rows.length > 0 || !!v.state.empty);
    const b = a.before || {};
    if ((v.state.transient && !b.transient) || ((v.state.loginForm || v.state.expired || v.state.interstitial) && q >= settleMs)) v.ok = true;
    return v;
  }, a.ms));
  E.register('uploadOutcome', (a) => {
    // After a file was sent: the confirmation, a refusal, or nothing yet.
    const U = P.upload || {};
    return waitFor(() => {
      const c = U.confirmed && arr(U.confirmed).length ? visibleFirst(U.confirmed) : null;
      if (c) return { ok: true, outcome: 'confirmed', text: norm(textOf(c)).slice(0, 4000) };
      const ct = has(U.confirmed_text);
      if (ct) return { ok: true, outcome: 'confirmed', text: ct };
      const rt = has(U.refused_text);
      if (rt) return { ok: true, outcome: 'refused', text: rt };
      return { ok: false, outcome: '' };
    }, a.ms);
  });
  // Before a key press or click that comes ahead of the {password} fill:
  // would it submit the form that already shows the (empty) password
  // field? Enter in a field of that form does, and so does a click on its
  // submit button.
  E.register('submitsEmptyPassword', (a) => {
    const pw = visibleFirst(a.password);
    if (!pw || !pw.form) return { risky: false };
    if (a.click) {
      const e = first(a.click);
      const submit = e && ((e.tagName === 'BUTTON' && (e.getAttribute('type') || 'submit').toLowerCase() === 'submit') || (e.tagName === 'INPUT' && /^(submit|image)$/i.test(e.type)));
      return { risky: !!(submit && e.form === pw.form) };
    }
    const e = a.in && arr(a.in).length ? first(a.in) : document.activeElement;
    return { risky: !!(e && (e === pw || e.form === pw.form)) };
  });
  E.register('rowClick', (a) => {
    // Find and click a row's download control in one round trip (the
    // evaluation runs as a user gesture); wait for it if the row is
    // still being drawn.
    const before = state();
    return waitFor(() => {
      const r = rowFor(a.name, a.nth);
      if (!r) return { ok: false, why: 'row not found' };
      const { els, alt } = all(a.sel || F.download, r);
      const e = els[0];
      if (!e) return { ok: false, why: 'no download control in the row', alt };
      const w = why(e, 'click');
      if (w) return { ok: false, why: w, alt };
      e.click();
      return { ok: true, alt, before };
    }, a.ms);
  });
  E.register('rowStep', (a) => {
    // One of files.download's steps, inside the row named a.name (the
    // a.nth-th of that name), found again on every look so that a list
    // redrawn meanwhile does not lose it: click a.click, or wait for
    // a.wait_for (visible) and a.wait_text. A text of a.stop in the row
    // (an expired link, a failure) ends the wait at once.
    const stop = arr(a.stop).filter((x) => x).map(low);
    return waitFor(() => {
      const r = rowFor(a.name, a.nth);
      if (!r) return { ok: false, why: 'row not found' };
      const t = low(textOf(r));
      const said = stop.find((x) => t.includes(x));
      if (said) return { ok: true, stopped: said };
      if (a.click) {
        const { els, alt } = all(a.click, r);
        if (!els.length) return { ok: false, why: 'not found in the row', alt };
        const w = why(els[0], 'click');
        if (w) return { ok: false, why: w, alt };
        els[0].click();
        return { ok: true, alt };
      }
      let ok = true, alt = -1;
      if (a.wait_for && arr(a.wait_for).length) {
        const m = all(a.wait_for, r, visible);
        ok = m.els.length > 0;
        alt = m.alt;
      }
      if (a.wait_text && a.wait_text.length) ok = ok && arr(a.wait_text).some((x) => t.includes(low(x)));
      return { ok, alt, why: ok ? '' : 'not shown in the row yet' };
    }, a.ms);
  });
  E.register('rowsReady', (a) => {
    // Which of the rows a.rows ({name, nth}) first meets a wait of
    // files.download (a.wait_for visible in it, a.wait_text in its text),
    // or says it failed (a.stop): its index.
    const stop = arr(a.stop).filter((x) => x).map(low);
    return waitFor(() => {
      for (let i = 0; i < a.rows.length; i++) {
        const r = rowFor(a.rows[i].name, a.rows[i].nth);
        if (!r) continue;
        const t = low(textOf(r));
        if (stop.some((x) => t.includes(x))) return { ok: true, index: i };
        let ok = true;
        if (a.wait_for && arr(a.wait_for).length) ok = all(a.wait_for, r, visible).els.length > 0;
        if (ok && a.wait_text && a.wait_text.length) ok = arr(a.wait_text).some((x) => t.includes(low(x)));
        if (ok) return { ok: true, index: i };
      }
      return { ok: false, index: -1 };
    }, a.ms);
  });
  E.register('unavailable', (a) => {
    // Rows that files.unavailable marks (expired, withdrawn): listed,
    // never clicked. Named by name and n-th row of that name.
    const out = [], seen = {}, texts = arr(F.unavailable_text).filter((x) => x).map(low);
    const sel = F.unavailable && arr(F.unavailable).length ? F.unavailable : null;
    if (!sel && !texts.length) return out;
    for (const r of rowsNow()) {
      const name = field(F.name, r), nth = seen[name] || 0;
      seen[name] = nth + 1;
      const t = texts.length ? low(norm(textOf(r))) : '';
      if ((sel && all(sel, r).els.length) || texts.some((x) => t.includes(x))) out.push({ name, nth });
    }
    return out;
  });
  E.register('rows', () => rows());
  E.register('count', (a) => {
    // For profile checks: how many elements a target matches.
    const root = a.row !== undefined ? rowsNow()[a.row] : undefined;
    if (a.row !== undefined && !root) return { count: 0, alt: -1, text: '' };
    const { els, alt } = all(a.sel, root);
    return { count: els.length, alt, text: els.length ? norm(textOf(els[0])).slice(0, 200) : '', url: location.href };
  });
})
