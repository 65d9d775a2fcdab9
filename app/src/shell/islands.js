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
  // Loads the app's WASM and hydrates the page's islands: each leptos-island element names the exported
  // function that hydrates it. Content put in place later (a live redraw) announces itself with
  // "baton:swapped" and its new islands are hydrated the same way. Once done, the html
  // element's data-hydrated tells tests and support that the page is interactive.
  import(js).then((mod) =>
    mod.default({ module_or_path: wasm }).then(() => {
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
