// The agent console: polls the routing engine's status, sends heartbeats, shows the
// screen pop of an offered call before it is answered, and drives answer / decline /
// transfer / hang up / wrap-up through the engine's JSON API (/agent/api/...) and the
// agent's phone (below: the Twilio softphone, or the demo's emulated phone).
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
    return perform(() => post(path, body));
  }

  async function perform(action) {
    try {
      problem("");
      await action();
      await refresh();
    } catch (error) {
      problem(error.message);
    }
  }

  // ---- the agent's phone ----------------------------------------------------------------------
  // One small interface, two implementations; config.yaml's console.phone.kind picks one
  // (the page's data-phone):
  //   start()            connect, and say through hooks.status whether calls can ring here
  //   ready()            whether an offer would reach this phone now
  //   answer(offer)      pick up the ringing offer        hangup(call)   end the talk
  //   mute(on)           when canMute                     sendDigits(d)  when canSendDigits
  //   sync(status)       the engine's latest status (the phone forgets what is over)
  // Decline and transfer redirect the caller on the server, whichever the phone; so will hold
  // and resume (issue 14 item 2: the caller's side of a conference).
  const phoneHooks = {
    status(state, text) {
      const line = $("phone-status");
      line.dataset.state = state;
      line.textContent = text;
    },
    problem(text) {
      const box = $("phone-problem");
      box.textContent = text || "";
      box.hidden = !text;
    },
    changed() { renderPhone(); refresh(); },
  };

  // The demo: the carrier emulator plays the agent's phone.  The server answers its ringing
  // leg (desk.answer, through the emulator's control API) and redirects the caller on hang-up.
  // It carries no sound, so there is nothing to mute and no keypad.
  function emulatorPhone(hooks) {
    return {
      kind: "emulator", canMute: false, canSendDigits: false, muted: false,
      start() { hooks.status("ready", "演示电话（运营商模拟器）Demo phone (carrier emulator)"); },
      ready() { return true; },
      answer(offer) { return post("/answer", { call_sid: offer.call_sid }); },
      hangup(call) { return post("/hangup", { call_sid: call.call_sid }); },
      sync() {},
      stop() {},
    };
  }

  // What the agent reads for the SDK's errors (TwilioError.code), in both languages.
  const PHONE_ERRORS = {
    20101: "软电话凭证无效 The softphone's access token is invalid",
    20104: "软电话凭证已过期，正在更新 The softphone's access token expired: getting a new one",
    31202: "Twilio 拒绝了凭证：请检查 API 密钥和密码 Twilio refused the token: check the API key and secret",
    31204: "软电话凭证无效 The softphone's access token is invalid",
    31205: "软电话凭证已过期，正在更新 The softphone's access token expired: getting a new one",
    31401: "麦克风被禁止：请在浏览器地址栏允许本站使用麦克风 The microphone is blocked: allow this site to use it (the icon in the address bar)",
    31402: "无法打开麦克风：请检查耳麦是否连接 The microphone could not be opened: check that the headset is plugged in",
    31005: "与 Twilio 的连接出错 The connection to Twilio failed",
    31008: "来电已结束，无法接听 The call ended before it could be answered",
    31009: "没有网络连接到 Twilio There is no network connection to Twilio",
    53000: "软电话与 Twilio 的连接出错 The softphone's connection to Twilio failed",
    53001: "网络中断，正在重新连接 The network dropped: reconnecting",
    53405: "通话的语音连接中断 The call's audio connection failed",
  };
  const TOKEN_ERRORS = new Set([20101, 20104, 31204, 31205]);

  function phoneError(error) {
    const code = error && error.code;
    const text = PHONE_ERRORS[code] || "软电话出错 Softphone error";
    return code ? text + " (" + code + ")" : text + ": " + ((error && error.message) || error);
  }

  // Production: Twilio's Voice JavaScript SDK (static/vendor/twilio-voice-sdk) registers this
  // browser as the <Client> agent-<staff id> that the ACD's <Dial> rings.  Only the SDK's
  // documented API: Device (options edge, tokenRefreshMs, closeProtection), its state,
  // register, updateToken, destroy and events registering / registered / unregistered /
  // incoming / tokenWillExpire / error; Call's accept, mute, isMuted, sendDigits, disconnect
  // and events accept / cancel / reject / disconnect / mute / reconnecting / reconnected / error.
  function twilioPhone(hooks) {
    const Device = window.Twilio && window.Twilio.Device;
    const READY = "就绪：来电在此振铃 Ready: calls ring here";
    // After a network drop the SDK reconnects its signaling and registers again by itself
    // (its backoff tops out at 20 s); a Device still unregistered this long after is rebuilt.
    const SDK_RECONNECTS_MS = 30000;
    let device = null;
    let watching = null;        // the timer that rebuilds a Device lost for good
    let ringing = null;         // the SDK's incoming call, not answered yet
    let active = null;          // the call the agent is on
    let answerWhenRinging = false;
    let building = false;
    let downSince = null;
    let nextAttempt = 0;
    let backoffMs = 5000;

    async function freshToken() {
      const response = await fetch(root.dataset.phoneToken, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) { window.location.reload(); }
      let data = {};
      try { data = await response.json(); } catch (e) { /* an HTML error page */ }
      if (!response.ok || !data.token) {
        throw new Error(data.message || ("软电话凭证获取失败 The softphone's token could not be had (" + response.status + ")"));
      }
      return data.token;
    }

    async function renewToken() {
      try {
        device.updateToken(await freshToken());
        return true;
      } catch (error) {
        hooks.problem(error.message);
        setTimeout(renewToken, 10000);  // the token in use lasts a little longer: try again
        return false;
      }
    }

    function build(token) {
      device = new Device(token, {
        edge: root.dataset.phoneEdge,
        tokenRefreshMs: Number(root.dataset.phoneTokenRefreshSeconds) * 1000,
        closeProtection: "正在通话，离开此页将挂断 A call is in progress: leaving this page hangs it up",
      });
      device.on("registering", () => hooks.status("connecting", "正在连接 Connecting…"));
      device.on("registered", () => {
        downSince = null;
        backoffMs = 5000;
        hooks.status("ready", READY);
        hooks.problem("");
      });
      device.on("unregistered", () => {
        downSince = downSince || Date.now();
        hooks.status("down", "未连接，正在重新连接：来电无法在此振铃 Not connected, reconnecting: calls cannot ring here");
      });
      device.on("error", async (error) => {
        hooks.problem(phoneError(error));
        if (TOKEN_ERRORS.has(error.code) && await renewToken() && device.state === "unregistered") {
          device.register().catch(() => { /* said by the 'error' event */ });
        }
      });
      device.on("incoming", ringingCall);
      device.on("tokenWillExpire", renewToken);
    }

    // Run on start and every few seconds: a Device to begin with (again with backoff while the
    // token cannot be had), and a new one if the SDK has not recovered from a drop by itself.
    async function watch() {
      if (building || active || ringing || Date.now() < nextAttempt) return;
      const state = device ? device.state : "none";
      if (state === "registered" || state === "registering") return;
      if (state === "unregistered") {
        downSince = downSince || Date.now();
        if (Date.now() - downSince < SDK_RECONNECTS_MS) return;
      }
      building = true;
      try {
        if (device) device.destroy();
        device = null;
        build(await freshToken());
        await device.register();
      } catch (error) {
        hooks.status("down", "未连接：来电无法在此振铃 Not connected: calls cannot ring here");
        hooks.problem(error.code ? phoneError(error) : error.message);
        nextAttempt = Date.now() + backoffMs;
        backoffMs = Math.min(backoffMs * 2, 60000);
      } finally {
        building = false;
      }
    }

    function ringingCall(call) {
      ringing = call;
      const over = () => {
        if (ringing === call) ringing = null;
        if (active === call) { active = null; phone.muted = false; }
        hooks.changed();
      };
      call.on("accept", () => { active = call; ringing = null; hooks.changed(); });
      call.on("cancel", over);      // the caller hung up, or the offer went to someone else
      call.on("reject", over);
      call.on("disconnect", over);
      call.on("mute", (isMuted) => { phone.muted = isMuted; renderPhone(); });
      call.on("reconnecting", (error) => hooks.problem(phoneError(error)));
      call.on("reconnected", () => hooks.problem(""));
      call.on("error", (error) => hooks.problem(phoneError(error)));
      hooks.status("ringing", "来电振铃 Ringing");
      if (answerWhenRinging) accept();
      hooks.changed();
    }

    function accept() {
      answerWhenRinging = false;
      if (!ringing) return;
      hooks.problem("");
      ringing.accept();   // the SDK asks for the microphone here: a refusal is error 31401
    }

    const phone = {
      kind: "twilio", canMute: true, canSendDigits: true, muted: false,
      start() {
        if (!Device) {
          hooks.status("down", "软电话未加载 The softphone did not load");
          return;
        }
        if (!window.isSecureContext) {
          hooks.problem("浏览器只在 HTTPS 页面上提供麦克风 Browsers give the microphone to https pages only: open the console over https");
        }
        hooks.status("connecting", "正在连接 Connecting…");
        watch();
        watching = setInterval(watch, 5000);
      },
      stop() {  // another console took over: this page's phone must not ring too
        clearInterval(watching);
        if (device) device.destroy();
        device = null;
      },
      ready() { return Boolean(device) && device.state === "registered"; },
      async answer() {
        if (ringing) accept();
        else {
          answerWhenRinging = true;  // the engine's offer came before the SDK's invite
          hooks.status("ringing", "等待来电到达本机 Waiting for the call to reach this browser…");
        }
      },
      async hangup(call) {
        if (active) active.disconnect();  // the carrier ends the <Dial>: the engine ends the talk
        else await post("/hangup", { call_sid: call.call_sid });  // no call in this browser (reloaded)
      },
      mute(on) {
        if (!active) return;
        active.mute(on);
        phone.muted = active.isMuted();
        renderPhone();
      },
      sendDigits(digits) { if (active) active.sendDigits(digits); },
      sync(status) {
        if (!status.offer && !status.monitoring) answerWhenRinging = false;
        if (active) hooks.status("ready", "通话中 On a call");
        else if (!ringing && !answerWhenRinging && phone.ready()) hooks.status("ready", READY);
      },
    };
    return phone;
  }

  const phone = (root.dataset.phone === "twilio" ? twilioPhone : emulatorPhone)(phoneHooks);

  function renderPhone() {
    $("mute").hidden = !phone.canMute;
    $("mute").setAttribute("aria-pressed", String(phone.muted));
    $("mute").textContent = phone.muted ? "取消静音 Unmute" : "静音 Mute";
    $("muted").hidden = !phone.muted;
    $("keypad").hidden = !phone.canSendDigits;
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
    $("state-reason").textContent = status.reason ? "原因 Reason: " + reasonLabel(status.reason) : "";
    renderQueues(status.queues || []);

    const offer = status.offer;
    $("offer").hidden = !offer;
    if (offer) {
      $("case-opened").hidden = true;  // the last call's case link: done with
      $("offer-queue").textContent = queueTitle(offer.queue);
      $("offer-caller").textContent = offer.caller || "未知 unknown";
      $("offer-countdown").textContent = secondsLeft(status.since, offer.expires_at);
      $("offer-kind").textContent = offer.kind === "consult" ? "同事咨询 A colleague consults you" : "来电 Incoming call";
      showFile(offer.call_sid);
    }
    alertOffer(offer);
    const call = status.call;
    $("call").hidden = !call;
    if (call) {
      $("call-queue").textContent = queueTitle(call.queue);
      $("call-since").textContent = since(call.since);
      showFile(call.call_sid);
    } else {
      $("digits-sent").value = "";
    }
    phone.sync(status);
    renderPhone();
    renderTalk(call);
    renderMonitor(status.monitoring);
    const wrap = status.wrap_up;
    $("wrap-up").hidden = !wrap;
    if (wrap) {
      $("wrap-up-countdown").textContent = secondsLeft(status.since, wrap.ends_at);
      if (wrapUpFor !== wrap.call_sid) {
        if (wrapUpFor) endDraft(wrapUpFor);  // straight from one wrap-up to the next
        wrapUpFor = wrap.call_sid;
        $("wrap-up-form").reset();
        $("case-record-number").value = patientRecord;
        restoreDraft(wrap.call_sid);
        showFile(wrap.call_sid);
      }
      wrapUpRunsOut(wrap);
    } else if (wrapUpFor) {
      endDraft(wrapUpFor);
      wrapUpFor = null;
    }
    if (!offer && !call && !wrap) {
      if (poppedFor) clearFile();
      poppedFor = null;
    }
  }

  // Polls, the event stream and every button ask for the status, and their answers can overtake
  // one another: an answer older than the one shown is dropped (painted, an offer already
  // answered would show and ring again).
  let asked = 0;
  let shown = 0;

  async function refresh() {
    if (retired) return;
    const ticket = ++asked;
    try {
      const response = await fetch(api + "/status", {
        credentials: "same-origin", cache: "no-store", signal: AbortSignal.timeout(Math.max(pollMs * 2, 4000)),
      });
      if (response.status === 401) { window.location.reload(); return; }
      if (!response.ok) throw new Error("状态读取失败 Status unavailable (" + response.status + ")");
      const answer = await response.json();
      if (retired) return;  // replaced on its way: this page shows nothing more
      connectionBack();
      if (ticket < shown) return;
      shown = ticket;
      status = answer;
      render();
    } catch (error) {
      // A newer answer was shown: the connection works, an older question's failure is no news.
      if (retired || ticket < shown) return;
      problem(error.message);
      connectionLost();
    }
  }

  // One console per agent (issue 15): the page opened last counts; this one, replaced, stops
  // polling, beating and ringing, and says why (two would both ring and both answer).
  let retired = false;

  async function heartbeat() {
    if (retired) return;
    try {
      const beat = await post("/heartbeat", { console: root.dataset.consoleId });
      if (beat.replaced) retire(beat.message);
    } catch (error) { problem(error.message); }
  }

  function retire(message) {
    retired = true;
    timers.forEach(clearInterval);
    if (stream) stream.close();
    phone.stop();
    alertOffer(null);  // the offer rings in the window that replaced this one, not here for ever
    problem(message);
    root.querySelectorAll("button, input, select, textarea").forEach((control) => { control.disabled = true; });
    seen.alerts.push({ kind: "replaced" });
  }

  $("go-available").addEventListener("click", () => {
    askToNotify();
    if (!phone.ready()) {
      problem("电话未就绪，来电无法在此振铃 The phone is not ready: calls could not ring here");
      return;
    }
    act("/state", { state: "available", reason: "" });
  });
  $("go-break").addEventListener("click", () => act("/state", { state: "break", reason: $("break-reason").value }));
  $("go-offline").addEventListener("click", () => act("/state", { state: "offline", reason: "" }));
  $("answer").addEventListener("click", () => status && status.offer && perform(() => phone.answer(status.offer)));
  $("decline").addEventListener("click", () => status && status.offer && act("/decline", { call_sid: status.offer.call_sid }));
  $("hangup").addEventListener("click", () => status && status.call && perform(() => phone.hangup(status.call)));
  $("mute").addEventListener("click", () => phone.mute(!phone.muted));
  for (const key of document.querySelectorAll("#keypad [data-digit]")) {
    key.addEventListener("click", () => {
      phone.sendDigits(key.dataset.digit);
      $("digits-sent").value += key.dataset.digit;
    });
  }
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
    // Read now: once the wrap-up is in, the next poll clears the form (and the file).
    const recordNumber = $("case-record-number").value.trim();
    const summary = $("case-summary").value.trim();
    if (openCase && (!recordNumber || !summary)) {
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
      form.elements.record_number.value = recordNumber;
      form.elements.call_sid.value = callSid;
      form.elements.summary.value = summary;
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

  // ---- the talk's controls (issue 14): hold, consult transfer, a third party ------------------
  // Each button is one agent-API call answering the status; a refusal comes back in Chinese
  // and English and is shown as it comes (problem()), the call unchanged.
  let directoryFor = null;   // the call the consult list was fetched for
  const agentNames = new Map();  // staff id -> display name, from the directory
  const LEG_STATES = { ringing: "正在振铃 Ringing", talking: "通话中 Talking" };
  const AGENT_STATES = STATE_LABELS;

  function renderTalk(call) {
    const controls = Boolean(call && call.controls);
    $("talk-controls").hidden = !controls;
    const consulting = controls && Boolean(call.consult);
    $("hold").hidden = !controls || call.on_hold || consulting;
    $("resume").hidden = !controls || !call.on_hold || consulting;  // a consult ends first
    if (!controls) { directoryFor = null; return; }
    $("held").hidden = !call.on_hold;
    $("held-for").textContent = "(" + Math.round(call.hold_seconds || 0) + " s)";
    $("consult-pick").hidden = consulting;
    $("consulting").hidden = !consulting;
    if (consulting) {
      const id = call.consult.agent_id;
      $("consult-label").textContent = call.consult.label || agentNames.get(id) || (id ? "坐席 Agent " + id : "");
      $("consult-state").textContent = LEG_STATES[call.consult.state] || call.consult.state;
    }
    const party = call.party;
    $("party-pick").hidden = Boolean(party);
    $("party").hidden = !party;
    if (party) {
      $("party-label").textContent = party.label || "";
      $("party-state").textContent = LEG_STATES[party.state] || party.state;
    }
    if (directoryFor !== call.call_sid) {
      directoryFor = call.call_sid;
      loadDirectory();
    }
  }

  // Whom a consult or a third party can reach: the other agents (only available ones can be
  // consulted) and the hospital's configured outside numbers.
  async function loadDirectory() {
    let found;
    try {
      const response = await fetch(api + "/directory", { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) throw new Error("通讯录读取失败 The directory could not be read (" + response.status + ")");
      found = await response.json();
    } catch (error) {
      problem(error.message);
      return;
    }
    const consult = $("consult-target");
    const party = $("party-target");
    const chosen = [consult.value, party.value];
    consult.replaceChildren(new Option("— 请选择 choose —", ""));
    party.replaceChildren(new Option("— 请选择 choose —", ""));
    for (const agent of found.agents || []) {
      agentNames.set(agent.staff_id, agent.display_name);
      const option = new Option(agent.display_name + " · " + (AGENT_STATES[agent.state] || agent.state), "agent:" + agent.staff_id);
      option.disabled = agent.state !== "available";
      consult.add(option);
    }
    for (const number of found.outside || []) {
      const label = [number.label.zh, number.label.en].filter(Boolean).join(" ");
      consult.add(new Option(label + " · 外线 outside", "outside:" + number.key));
      party.add(new Option(label, number.key));
    }
    consult.value = chosen[0];
    party.value = chosen[1];
  }

  function talkAct(path, extra) {
    if (!status || !status.call) return;
    act(path, Object.assign({ call_sid: status.call.call_sid }, extra || {}));
  }

  function wireTalkControls() {
    $("hold").addEventListener("click", () => talkAct("/hold"));
    $("resume").addEventListener("click", () => talkAct("/resume"));
    $("consult-target").addEventListener("focus", loadDirectory);  // agents' states change
    $("consult").addEventListener("click", () => {
      const [kind, id] = $("consult-target").value.split(":");
      if (!kind) { problem("请选择要咨询的坐席或外线 Choose an agent or an outside number to consult"); return; }
      talkAct("/consult", kind === "agent" ? { agent_id: Number(id) } : { outside: id });
    });
    $("complete-transfer").addEventListener("click", () => talkAct("/complete-transfer"));
    $("consult-cancel").addEventListener("click", () => talkAct("/consult-cancel"));
    $("add-party").addEventListener("click", () => {
      if (!$("party-target").value) { problem("请选择第三方 Choose whom to add"); return; }
      talkAct("/add-party", { outside: $("party-target").value });
    });
    $("drop-party").addEventListener("click", () => talkAct("/drop-party"));
  }

  // ---- the state's reason in both languages (issue 15) ------------------------------------------
  // The engine stores codes: a break reason is the lower-case English of config's label (the
  // page's own list says it in both), the rest are the engine's.
  const REASONS = {
    missed: "未接来电（振铃超时） Missed: the offer rang out",
    heartbeat: "坐席页面无响应 The console went silent",
    logged_out: "已退出登录 Logged out",
  };

  function reasonLabel(reason) {
    const option = Array.from($("break-reason").options).find((item) => item.value === reason);
    return option ? option.textContent : (REASONS[reason] || reason);
  }

  // ---- a supervisor's listen (issue 14): the leg they asked for rings this phone ---------------
  const MONITOR_MODES = { listen: "只听 Listening", whisper: "密语 Whispering to the agent", barge: "插话 Barged in" };
  let monitorAnswered = null;

  function renderMonitor(monitoring) {
    $("monitor").hidden = !monitoring;
    if (!monitoring) { monitorAnswered = null; return; }
    $("monitor-mode").textContent = MONITOR_MODES[monitoring.mode] || monitoring.mode;
    $("monitor-state").textContent = monitoring.state === "talking" ? "已接通 Connected" : "正在振铃 Ringing";
    // The supervisor pressed Listen: the softphone takes the leg without a second click (the
    // demo's emulator answers it on the server).
    if (monitoring.state === "ringing" && phone.kind === "twilio" && monitorAnswered !== monitoring.call_sid) {
      monitorAnswered = monitoring.call_sid;
      perform(() => phone.answer(null));
    }
  }

  function monitorAct(path) {
    if (status && status.monitoring) act(path, { call_sid: status.monitoring.call_sid });
  }

  // ---- alerting on an offer (issue 15): a ring, a notification, the tab's title ----------------
  // window.hotlineConsole.alerts records each alert given (what tests and a curious IT person read).
  const seen = window.hotlineConsole = window.hotlineConsole || {};
  seen.alerts = [];
  const quietTitle = document.title;
  let alertedFor = null;
  let ringing = null;
  let audio = null;

  function alertOffer(offer) {
    if (!offer) {
      if (alertedFor) { alertedFor = null; stopRing(); document.title = quietTitle; }
      return;
    }
    if (alertedFor === offer.call_sid) return;
    alertedFor = offer.call_sid;
    // Nothing of the patient's: the queue's name only (a notification shows over other apps).
    const text = (offer.kind === "consult" ? "同事咨询 A colleague consults you" : "来电 Incoming call") + " · " + queueTitle(offer.queue);
    document.title = "☎ " + text;
    $("offer").scrollIntoView({ block: "nearest" });  // an agent scrolled down still sees Answer
    seen.alerts.push({ kind: "title", call_sid: offer.call_sid, text: document.title });
    startRing(offer.call_sid);
    notify(offer.call_sid, text);
  }

  // A two-tone ring made with WebAudio (no sound file to serve), every 3 s while it rings.
  function startRing(callSid) {
    stopRing();
    const Context = window.AudioContext || window.webkitAudioContext;
    const beep = () => {
      try {
        audio = audio || new Context();
        if (audio.state === "suspended") audio.resume();
        for (const [offset, pitch] of [[0, 880], [0.45, 660]]) {
          const tone = audio.createOscillator();
          const gain = audio.createGain();
          tone.frequency.value = pitch;
          gain.gain.value = 0.15;
          tone.connect(gain).connect(audio.destination);
          tone.start(audio.currentTime + offset);
          tone.stop(audio.currentTime + offset + 0.35);
        }
      } catch (error) { /* no audio device: the title and the notification remain */ }
    };
    if (Context) {
      beep();
      ringing = setInterval(beep, 3000);
      seen.alerts.push({ kind: "ring", call_sid: callSid });
    }
  }

  function stopRing() {
    if (ringing) clearInterval(ringing);
    ringing = null;
  }

  function notify(callSid, text) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      const note = new Notification(text, { tag: "hotline-offer", requireInteraction: true, body: "接听 Answer: Alt+Shift+A" });
      note.onclick = () => { window.focus(); note.close(); };
      seen.alerts.push({ kind: "notification", call_sid: callSid, text: text });
    } catch (error) { /* some browsers allow notifications from a service worker only */ }
  }

  // Asked once, when the agent first goes available (browsers ask only after a click).
  function askToNotify() {
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
  }

  // ---- keyboard shortcuts (issue 15), listed on the page ----------------------------------------
  // Alt+Shift+letter: Alt alone opens browser menus (Alt+D is the address bar in Chrome).
  const SHORTCUTS = {
    KeyA: ["answer"], KeyD: ["decline"], KeyE: ["hangup"], KeyH: ["hold", "resume"],
    KeyM: ["mute"], KeyR: ["go-available"], KeyB: ["go-break"],
  };

  function onShortcut(event) {
    if (!event.altKey || !event.shiftKey || event.ctrlKey || event.metaKey) return;
    const ids = SHORTCUTS[event.code];
    if (!ids) return;
    const button = ids.map($).find((item) => item && !item.disabled && item.getClientRects().length > 0);
    if (!button) return;
    event.preventDefault();
    button.click();
  }

  // ---- the wrap-up's notes (issue 15): kept through a reload and for the timer running out -----
  // In sessionStorage (this tab only, gone when it closes) and, as typed, in the ACD, where the
  // sweep that ends the wrap-up saves them with the disposition "not given".
  const DRAFT = "hotline.wrap-up.";
  let draftTimer = null;

  function restoreDraft(callSid) {
    let saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(DRAFT + callSid) || "null"); } catch (error) { saved = null; }
    if (!saved) return;
    $("disposition").value = saved.disposition || "";
    $("wrap-up-notes").value = saved.notes || "";
  }

  function keepDraft() {
    if (!wrapUpFor) return;
    const callSid = wrapUpFor;
    const notes = $("wrap-up-notes").value;
    try {
      sessionStorage.setItem(DRAFT + callSid, JSON.stringify({ disposition: $("disposition").value, notes: notes }));
    } catch (error) { /* storage full or refused: the server's copy remains */ }
    clearTimeout(draftTimer);
    draftTimer = setTimeout(() => sendDraft(callSid, notes), 800);
  }

  function sendDraft(callSid, notes) {
    clearTimeout(draftTimer);
    draftTimer = null;
    return post("/wrap-up-draft", { call_sid: callSid, notes: notes }).catch(() => { /* over already */ });
  }

  // A second before the timer ends, what is typed goes to the server at once.
  function wrapUpRunsOut(wrap) {
    if (draftTimer && secondsLeft(status.since, wrap.ends_at) <= 1) sendDraft(wrap.call_sid, $("wrap-up-notes").value);
  }

  function endDraft(callSid) {
    try { sessionStorage.removeItem(DRAFT + callSid); } catch (error) { /* nothing kept */ }
    clearTimeout(draftTimer);
    draftTimer = null;
    $("wrap-up-form").reset();
  }

  // ---- privacy on screen (issue 15): the file goes when the call is over ----------------------
  function clearFile() {
    $("screen-pop").replaceChildren();
    patientRecord = "";
  }

  // ---- the connection (issue 15): a lost one is said at once, not shown as "Available" -------
  let lost = false;

  function connectionLost() {
    lost = true;
    const state = $("state");
    state.textContent = "连接中断 Connection lost";
    state.className = "state lost";
    state.dataset.state = "lost";
    $("state-since").textContent = "";
    $("state-reason").textContent = "正在重试，来电可能无法送达 Retrying: calls may not reach you";
    problem("与热线服务器的连接中断 The connection to the hotline is lost");
  }

  function connectionBack() {
    if (lost) { lost = false; problem(""); }
  }

  // ---- leaving the console (issue 15): the browser asks first -----------------------------------
  // The agent's heartbeats stop with the page, and the ACD logs a silent console out; so while
  // the agent takes calls (or is on one, or wrapping up) leaving needs a yes.
  let loggingOut = false;  // the agent's own "Log out" is not leaving by mistake

  function onLeave(event) {
    if (loggingOut || retired || !status || status.state === "offline") return;
    event.preventDefault();
    event.returnValue = "离开坐席页面将停止接听来电 Leaving the console stops your calls";
    seen.alerts.push({ kind: "leave-warning" });
  }

  wireTalkControls();
  $("monitor-whisper").addEventListener("click", () => monitorAct("/whisper"));
  $("monitor-barge").addEventListener("click", () => monitorAct("/barge"));
  $("monitor-stop").addEventListener("click", () => monitorAct("/stop-monitoring"));
  document.addEventListener("keydown", onShortcut);
  $("wrap-up-notes").addEventListener("input", keepDraft);
  $("disposition").addEventListener("change", keepDraft);
  window.addEventListener("beforeunload", onLeave);
  const logout = document.querySelector("form.logout");
  if (logout) logout.addEventListener("submit", () => { loggingOut = true; });


  // Live push (issue 15): the server says when this agent's state changes (an offer,
  // a caller gone, a sweep), and the console asks for its status at once instead of at
  // the next poll.  The polling below goes on whatever happens here: it is the fallback
  // (no EventSource, a full web process answering 503, a lost stream).
  let stream = null;
  function listenForChanges() {
    if (!window.EventSource) return;
    stream = new EventSource(api + "/stream");
    stream.addEventListener("change", () => refresh());
  }

  phone.start();
  renderPhone();
  listenForChanges();
  refresh();
  heartbeat();
  const timers = [setInterval(refresh, pollMs), setInterval(heartbeat, heartbeatMs)];
})();
