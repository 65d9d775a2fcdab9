((js, wasm) => {
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
