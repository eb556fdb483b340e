// The Vitrine console's live parts. The pages work without it; with it the fleet refreshes as
// heartbeats arrive, commands are sent without leaving the page, and a screenshot appears when
// the screen has sent it.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// The fleet: listen for heartbeats, fetch the rows again when a screen shown (or any, under a
// state filter) was heard from; and every 30 s anyway, for the ages.
function liveFleet(fleet) {
  let pending = null;
  const refresh = () => {
    pending = null;
    fetch(fleet.dataset.rows, { credentials: "same-origin" })
      .then((response) => {
        if (response.redirected || response.status === 401) {
          location.reload();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then((html) => {
        if (html !== null) fleet.innerHTML = html;
      })
      .catch(() => {});
  };
  const soon = () => {
    if (!pending) pending = setTimeout(refresh, 300);
  };
  const events = new EventSource(fleet.dataset.live);
  events.addEventListener("heard", (event) => {
    const names = JSON.parse(event.data);
    const filtered = fleet.dataset.state !== "";
    if (filtered || names.some((name) => fleet.querySelector(`tr[data-screen="${CSS.escape(name)}"]`))) {
      soon();
    }
  });
  setInterval(soon, 30000);
}

// A command button sends its form with fetch and says what happened beside it.
function commandForms() {
  for (const form of document.querySelectorAll("form.command")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = form.querySelector("button");
      const command = button.dataset.command;
      const status = form.querySelector(".help");
      // The screenshot HQ holds now: the one asked for is any other.
      const before = command === "screenshot" ? latestScreenshot() : Promise.resolve(null);
      before
        .then((previous) =>
          fetch(form.action, {
            method: "POST",
            credentials: "same-origin",
            headers: { "x-console": "fetch", "x-csrf-token": csrfToken() },
            body: new URLSearchParams(new FormData(form)),
          })
            .then((response) => response.json().then((body) => ({ ok: response.ok, body })))
            .then(({ ok, body }) => {
              if (!ok) {
                status.textContent = body.error ? body.error.message : "The command was refused.";
                status.classList.add("problem");
                return;
              }
              status.textContent = body.connected > 0 ? "Sent." : "Sent; the screen is not connected now and gets it when it reconnects.";
              if (command === "screenshot") waitForScreenshot(previous);
            }),
        )
        .catch(() => {
          status.textContent = "The scheduler could not be reached.";
        });
    });
  }
}

// When the screenshot HQ holds for this screen was taken (its header), or null if none.
function latestScreenshot() {
  const box = document.getElementById("screenshot");
  if (!box) return Promise.resolve(null);
  return fetch(box.dataset.src, { method: "HEAD", credentials: "same-origin", cache: "no-store" })
    .then((response) => (response.ok ? response.headers.get("x-vitrine-taken-at") : null))
    .catch(() => null);
}

// Shows the screenshot taken at `taken` (HQ's time, as its header gives it).
function showScreenshot(taken) {
  const box = document.getElementById("screenshot");
  const image = new Image();
  image.alt = "What the screen showed at " + taken;
  image.id = "screenshot-image";
  image.onload = () => {
    box.innerHTML = "";
    const caption = document.createElement("p");
    caption.textContent = "Taken " + taken.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
    caption.id = "screenshot-time";
    box.append(image, caption);
  };
  image.src = box.dataset.src + "?t=" + encodeURIComponent(taken);
}

// Polls the screen's screenshot until one other than `previous` arrives, then shows it.
function waitForScreenshot(previous) {
  const box = document.getElementById("screenshot");
  if (!box) return;
  box.innerHTML = '<p class="muted" role="status">Waiting for the screen…</p>';
  const deadline = Date.now() + 30000;
  const poll = () => {
    latestScreenshot().then((taken) => {
      if (taken && taken !== previous) {
        showScreenshot(taken);
      } else if (Date.now() < deadline) {
        setTimeout(poll, 150);
      } else {
        box.innerHTML = '<p class="problem" role="alert">No screenshot came within 30 s. Is the screen online?</p>';
      }
    });
  };
  poll();
}

// A file picked for upload is read into the text box, so it can be checked before publishing.
function fileLoaders() {
  for (const input of document.querySelectorAll("input[type=file][data-load-into]")) {
    input.addEventListener("change", () => {
      const file = input.files[0];
      if (!file) return;
      file.text().then((text) => {
        document.getElementById(input.dataset.loadInto).value = text;
        const name = document.getElementById(input.dataset.nameInto || "file_name");
        if (name) name.value = file.name;
      });
    });
  }
}

// The media upload sends the file's bytes as they are, with the sha256 they must hash to; the
// digest is filled in when a file is picked, where the browser can compute it.
function mediaUpload() {
  const form = document.getElementById("media-upload");
  if (!form) return;
  const file = document.getElementById("media-file");
  const digest = document.getElementById("media-sha256");
  const status = document.getElementById("media-upload-status");
  const say = (text, isProblem) => {
    status.textContent = text;
    status.classList.toggle("problem", isProblem);
  };
  file.addEventListener("change", () => {
    const picked = file.files[0];
    if (!picked || !window.crypto || !crypto.subtle || picked.size > 256 * 1024 * 1024) return;
    say("Computing the file's sha256…", false);
    picked
      .arrayBuffer()
      .then((bytes) => crypto.subtle.digest("SHA-256", bytes))
      .then((hash) => {
        digest.value = Array.from(new Uint8Array(hash), (byte) => byte.toString(16).padStart(2, "0")).join("");
        say("", false);
      })
      .catch(() => say("", false));
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const picked = file.files[0];
    if (!picked) return;
    say("Uploading…", false);
    fetch("/console/media/upload/" + encodeURIComponent(digest.value.trim()), {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-csrf-token": csrfToken(), "content-type": "application/octet-stream" },
      body: picked,
    })
      .then((response) => {
        if (response.ok) {
          location.href = response.url;
          return null;
        }
        return response.text().then((html) => {
          const page = new DOMParser().parseFromString(html, "text/html");
          const problem = page.querySelector(".problem");
          say(problem ? problem.textContent : `The upload was refused (${response.status}).`, true);
        });
      })
      .catch(() => say("The scheduler could not be reached.", true));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const fleet = document.getElementById("fleet");
  if (fleet && window.EventSource) liveFleet(fleet);
  commandForms();
  fileLoaders();
  if (document.getElementById("screenshot")) {
    latestScreenshot().then((taken) => {
      if (taken) showScreenshot(taken);
    });
  }
  mediaUpload();
  const firstProblem = document.querySelector(".has-problem");
  if (firstProblem) firstProblem.scrollIntoView({ block: "center" });
});
