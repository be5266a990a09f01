// The console's entry point: sign-in, and switching between the Keys and
// Flows pages (the page in the URL's hash, so back/forward work).

import { $, setText, show, status } from './dom.js';
import * as api from './api.js';
import * as keys from './keys.js';
import * as flows from './flows.js';

const PAGES = {
  keys: { section: 'keys-page', nav: 'nav-keys', heading: 'keys-title', module: keys },
  flows: { section: 'flows-page', nav: 'nav-flows', heading: 'flows-title', module: flows },
};

/** The page shown, so that a page newly shown (not one shown again) takes the focus. */
let shownPage = null;

function route() {
  if (!api.signedIn()) {
    show('nav', false);
    for (const page of Object.values(PAGES)) show(page.section, false);
    show('signin-page', true);
    shownPage = null;
    $('token').focus();
    return;
  }
  show('signin-page', false);
  show('nav', true);
  const name = location.hash === '#flows' ? 'flows' : 'keys';
  for (const [other, page] of Object.entries(PAGES)) {
    show(page.section, other === name);
    if (other === name) $(page.nav).setAttribute('aria-current', 'page');
    else $(page.nav).removeAttribute('aria-current');
  }
  if (shownPage !== name) {
    // Keyboard and screen-reader users land on the new page's heading.
    $(PAGES[name].heading).focus();
    shownPage = name;
  }
  PAGES[name].module.enter();
}

async function signIn(event) {
  event.preventDefault();
  setText('signin-error', '');
  $('signin-submit').disabled = true;
  try {
    await api.signIn($('token').value.trim());
    $('token').value = '';
    route();
  } catch (error) {
    const why = error.status === 401 ? 'the server refused this token' : error.message;
    setText('signin-error', `Sign-in failed: ${why}.`);
  } finally {
    $('signin-submit').disabled = false;
  }
}

function start() {
  $('signin-form').addEventListener('submit', signIn);
  $('nav-keys').addEventListener('click', () => { location.hash = '#keys'; });
  $('nav-flows').addEventListener('click', () => { location.hash = '#flows'; });
  $('sign-out').addEventListener('click', () => {
    // Nothing the last user saw stays in the page (a value's download
    // included), and signing in again lists afresh.
    keys.reset();
    flows.reset();
    api.signOut();
    status('Signed out.');
    route();
  });
  window.addEventListener('hashchange', route);
  keys.setup();
  flows.setup();
  route();
  document.body.dataset.ready = '1';
}

start();
