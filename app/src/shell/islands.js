((js, wasm) => {
  // Times: a user who chose no zone sees them in this device's zone (the server used the
  // installation's). Every time[data-local] holds its UTC instant; a form's zone field and its
  // "now" times follow, so what is typed is read in the zone shown.
  const localise = () => {
    const html = document.documentElement;
    if (html.dataset.zoneChosen === 'true') return;
    let zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    if (!zone || zone === html.dataset.zone) return;
    const parts = (date, options) => Object.fromEntries(
      new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', ...options })
        .formatToParts(date).map((p) => [p.type, p.value]));
    const local = (date) => {
      const p = parts(date, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
      return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
    };
    for (const el of document.querySelectorAll('time[data-local]')) {
      const date = new Date(el.getAttribute('datetime'));
      if (isNaN(date)) continue;
      const offset = (parts(date, { timeZoneName: 'longOffset' }).timeZoneName || 'GMT').replace('GMT', 'UTC');
      el.textContent = local(date);
      el.title = `${local(date)} ${zone} (${offset === 'UTC' ? 'UTC+00:00' : offset})`;
    }
    for (const el of document.querySelectorAll('[data-zone-label]')) el.textContent = zone;
    for (const el of document.querySelectorAll('input[data-zone-auto]')) el.value = zone;
    for (const el of document.querySelectorAll('input[data-now]')) {
      if (el.value === el.defaultValue) el.value = el.defaultValue = local(new Date()).replace(' ', 'T');
    }
  };
  localise();
  document.addEventListener('baton:swapped', localise);
  // Stage clocks: each running [data-clock] holds when it turns amber (75 % of the target) and red
  // (the target); its time left and colour count on here every second, without asking the server,
  // from the server's time when the page was rendered (a device clock that is off does not matter).
  const span = (ms) => {
    const s = Math.floor(Math.abs(ms) / 1000);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
    return m > 0 ? `${m}m` : `${s}s`;
  };
  const tick = () => {
    for (const el of document.querySelectorAll('[data-clock]')) {
      const breach = Date.parse(el.dataset.breachAt), risk = Date.parse(el.dataset.riskAt);
      if (isNaN(breach)) continue;
      if (el.$$skew === undefined) el.$$skew = (Date.parse(el.dataset.now) - Date.now()) || 0;
      const now = Date.now() + el.$$skew;
      const state = now >= breach ? 'breached' : now >= risk ? 'at-risk' : 'ok';
      const template = state === 'breached' ? el.dataset.tOver : state === 'at-risk' ? el.dataset.tRisk : el.dataset.tOk;
      el.className = `clock clock--${state}`;
      el.textContent = template.replace('{span}', span(breach - now));
    }
  };
  tick();
  setInterval(tick, 1000);
  document.addEventListener('baton:swapped', tick);
  // Loads the app's WASM and hydrates the page's islands: each leptos-island element names the exported
  // function that hydrates it. Content put in place later (a live redraw) announces itself with
  // "baton:swapped" and its new islands are hydrated the same way. Once done, the html
  // element's data-hydrated tells tests and support that the page is interactive.
  import(js).then((mod) =>
    mod.default({ module_or_path: wasm }).then(() => {
      // Another build's WASM would fail on this page's islands: the page stays as served (it
      // works without script) and says why in the console.
      if (mod.build_id && mod.build_id() !== document.documentElement.dataset.build) {
        console.warn(`not hydrating: the page is build ${document.documentElement.dataset.build}, the WASM ${mod.build_id()}`);
        return;
      }
      mod.hydrate();
      const hydrateIslands = () => {
        for (const island of document.querySelectorAll('leptos-island')) {
          if (island.$$hydrated) continue;
          island.$$hydrated = true;
          const hydrateOne = mod[island.dataset.component];
          if (hydrateOne) hydrateOne(island);
          else console.warn(`no WASM function for the island ${island.dataset.component}`);
        }
      };
      hydrateIslands();
      document.addEventListener('baton:swapped', hydrateIslands);
      document.documentElement.setAttribute('data-hydrated', 'true');
    })
  );
})
