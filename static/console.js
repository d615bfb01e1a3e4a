// The agent console: polls the routing engine's status, sends heartbeats, shows the
// screen pop of an offered call before it is answered, and drives answer / decline /
// transfer / hang up / wrap-up through the engine's JSON API (/agent/api/...).
// Plain JS, no framework: the page must work offline and be easy to audit.
(function () {
  "use strict";
  const root = document.getElementById("console");
  if (!root) return;
  const api = root.dataset.api;
  const heartbeatMs = Number(root.dataset.heartbeatSeconds) * 1000;
  const pollMs = Number(root.dataset.pollSeconds) * 1000;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);

  let status = null;        // the engine's last answer
  let poppedFor = null;     // the call whose file is on screen (fetched once: each fetch is audited)
  let patientRecord = "";   // the record number on the screen pop, for a case
  let wrapUpFor = null;     // the call whose wrap-up form is shown

  const STATE_LABELS = {
    offline: "离线 Offline", available: "空闲 Available", reserved: "振铃 Ringing",
    on_call: "通话中 On call", wrap_up: "话后处理 Wrap-up", break: "休息 Break",
  };

  function problem(text) {
    const box = $("problem");
    box.textContent = text || "";
    box.hidden = !text;
  }

  async function post(path, body) {
    const response = await fetch(api + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { /* an HTML error page */ }
    if (response.status === 401) { window.location.reload(); }  // logged out: the login page
    if (!response.ok) {
      throw new Error(data.message || data.error || ("请求失败 Request failed (" + response.status + ")"));
    }
    return data;
  }

  async function act(path, body) {
    try {
      problem("");
      await post(path, body);
      await refresh();
    } catch (error) {
      problem(error.message);
    }
  }

  // Times come from the server's clock, which need not be the browser's (nor, in tests,
  // the wall clock): durations are measured from when this page first saw a state.
  const firstSeen = new Map();
  function elapsedSince(iso) {
    if (!iso) return 0;
    if (!firstSeen.has(iso)) firstSeen.set(iso, Date.now());
    return Math.max(0, Math.round((Date.now() - firstSeen.get(iso)) / 1000));
  }

  function secondsLeft(sinceIso, endsIso) {
    if (!sinceIso || !endsIso) return 0;
    const total = (Date.parse(endsIso) - Date.parse(sinceIso)) / 1000;
    return Math.max(0, Math.round(total - elapsedSince(sinceIso)));
  }

  function since(iso) {
    if (!iso) return "";
    const seconds = elapsedSince(iso);
    return "(" + Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0") + ")";
  }

  function queueTitle(name) {
    const queue = ((status && status.queues) || []).find((item) => item.name === name);
    return queue ? title(queue) : name;
  }

  // A queue's title comes in both languages ({zh, en}), or as a plain string.
  function title(queue) {
    const text = queue.title;
    if (text && typeof text === "object") return [text.zh, text.en].filter(Boolean).join(" ");
    return text || queue.name;
  }

  function renderQueues(queues) {
    const body = $("queues");
    body.replaceChildren();
    if (!queues.length) {
      const row = body.insertRow();
      const cell = row.insertCell();
      cell.colSpan = 3;
      cell.textContent = "没有分配队列 No queues";
    }
    for (const queue of queues) {
      const row = body.insertRow();
      row.dataset.queue = queue.name;
      row.insertCell().textContent = title(queue);
      row.insertCell().textContent = queue.waiting;
      row.insertCell().textContent = (queue.longest_wait || 0) + " s";
    }
    const select = $("transfer-queue");
    const chosen = select.value;
    select.replaceChildren();
    for (const queue of queues) {
      select.add(new Option(title(queue), queue.name));
    }
    if (chosen) select.value = chosen;
  }

  async function showFile(callSid) {
    if (poppedFor === callSid) return;
    poppedFor = callSid;
    patientRecord = "";
    const pop = $("screen-pop");
    pop.textContent = "正在读取档案 Loading the caller's file…";
    try {
      const response = await fetch(root.dataset.screenPop + "?call_sid=" + encodeURIComponent(callSid), {
        credentials: "same-origin",
      });
      pop.innerHTML = await response.text();  // our own server-rendered, autoescaped fragment
      const record = pop.querySelector(".mrn");
      patientRecord = record ? record.textContent.trim() : "";
      // 403: the offer's event may not be written yet (the engine reserves, then rings and
      // records it); ask again on the next poll.  Nothing was shown, so nothing was audited.
      if (!response.ok) poppedFor = null;
    } catch (error) {
      pop.textContent = "档案读取失败 The file could not be loaded: " + error.message;
      poppedFor = null;  // try again on the next poll
    }
  }

  function render() {
    if (!status) return;
    const state = $("state");
    state.textContent = STATE_LABELS[status.state] || status.state;
    state.className = "state " + status.state;
    state.dataset.state = status.state;
    $("state-since").textContent = since(status.since);
    $("state-reason").textContent = status.reason ? "原因 Reason: " + status.reason : "";
    renderQueues(status.queues || []);

    const offer = status.offer;
    $("offer").hidden = !offer;
    if (offer) {
      $("case-opened").hidden = true;  // the last call's case link: done with
      $("offer-queue").textContent = queueTitle(offer.queue);
      $("offer-caller").textContent = offer.caller || "未知 unknown";
      $("offer-countdown").textContent = secondsLeft(status.since, offer.expires_at);
      showFile(offer.call_sid);
    }
    const call = status.call;
    $("call").hidden = !call;
    if (call) {
      $("call-queue").textContent = queueTitle(call.queue);
      $("call-since").textContent = since(call.since);
      showFile(call.call_sid);
    }
    const wrap = status.wrap_up;
    $("wrap-up").hidden = !wrap;
    if (wrap) {
      $("wrap-up-countdown").textContent = secondsLeft(status.since, wrap.ends_at);
      if (wrapUpFor !== wrap.call_sid) {
        wrapUpFor = wrap.call_sid;
        $("wrap-up-form").reset();
        $("case-record-number").value = patientRecord;
        showFile(wrap.call_sid);
      }
    } else {
      wrapUpFor = null;
    }
    if (!offer && !call && !wrap) {
      poppedFor = null;
    }
  }

  async function refresh() {
    try {
      const response = await fetch(api + "/status", { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) { window.location.reload(); return; }
      if (!response.ok) throw new Error("状态读取失败 Status unavailable (" + response.status + ")");
      status = await response.json();
      render();
    } catch (error) {
      problem(error.message);
    }
  }

  async function heartbeat() {
    try { await post("/heartbeat"); } catch (error) { problem(error.message); }
  }

  $("go-available").addEventListener("click", () => act("/state", { state: "available", reason: "" }));
  $("go-break").addEventListener("click", () => act("/state", { state: "break", reason: $("break-reason").value }));
  $("go-offline").addEventListener("click", () => act("/state", { state: "offline", reason: "" }));
  $("answer").addEventListener("click", () => status && status.offer && act("/answer", { call_sid: status.offer.call_sid }));
  $("decline").addEventListener("click", () => status && status.offer && act("/decline", { call_sid: status.offer.call_sid }));
  $("hangup").addEventListener("click", () => status && status.call && act("/hangup", { call_sid: status.call.call_sid }));
  $("transfer").addEventListener("click", () => {
    if (status && status.call && $("transfer-queue").value) {
      act("/transfer", { call_sid: status.call.call_sid, queue: $("transfer-queue").value });
    }
  });

  $("disposition").addEventListener("change", (event) => {
    const option = event.target.selectedOptions[0];
    const complaint = option && option.dataset.complaint === "yes";
    $("open-case").checked = complaint;
    if (complaint && !$("case-summary").value) $("case-summary").value = $("wrap-up-notes").value;
  });
  $("wrap-up-notes").addEventListener("input", () => {
    if ($("open-case").checked) $("case-summary").value = $("wrap-up-notes").value;
  });

  $("wrap-up-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!status || !status.wrap_up) return;
    const callSid = status.wrap_up.call_sid;
    const disposition = $("disposition").value;
    const notes = $("wrap-up-notes").value;
    const openCase = $("open-case").checked;
    if (openCase && (!$("case-record-number").value.trim() || !$("case-summary").value.trim())) {
      problem("建立投诉需要病历号和投诉内容 A case needs the record number and what the complaint is about");
      return;
    }
    try {
      problem("");
      await post("/wrap-up", { call_sid: callSid, disposition: disposition, notes: notes });
    } catch (error) {
      problem(error.message);
      return;
    }
    if (openCase) {
      const form = $("case-form");
      form.elements.record_number.value = $("case-record-number").value.trim();
      form.elements.call_sid.value = callSid;
      form.elements.summary.value = $("case-summary").value.trim();
      // The form's own fields (with its CSRF token); the console stays open, so its
      // heartbeats go on while the agent looks at the new case in another tab.
      try {
        const response = await fetch(form.action, {
          method: "POST", credentials: "same-origin", body: new FormData(form),
          headers: { Accept: "application/json" },
        });
        const data = await response.json();
        if (!response.ok) throw new Error(data.error || ("请求失败 Request failed (" + response.status + ")"));
        const done = $("case-opened");
        done.replaceChildren("投诉已建立 Complaint case opened: ");
        const link = document.createElement("a");
        link.href = data.url;
        link.target = "_blank";
        link.textContent = "#" + data.id;
        done.append(link);
        done.hidden = false;
      } catch (error) {
        problem("投诉未能建立 The case was not opened: " + error.message);
      }
    }
    await refresh();
  });

  refresh();
  heartbeat();
  setInterval(refresh, pollMs);
  setInterval(heartbeat, heartbeatMs);
})();
