// A test double of the Twilio Voice JavaScript SDK, served by the browser tests in place of
// static/vendor/twilio-voice-sdk/twilio.min.js.  It has only what the SDK documents (Device:
// constructor(token, options), state, token, register, updateToken, destroy, events
// registering / registered / unregistered / incoming / tokenWillExpire / error; Call:
// parameters, accept, mute, isMuted, sendDigits, disconnect, status, events accept / cancel /
// disconnect / mute / error), and records what the page did with it in window.voiceDouble,
// where the test reads it and plays Twilio's part (it rings the Device, and answers or hangs
// up the carrier emulator's agent leg when the page accepts or disconnects).
(function (root) {
  "use strict";

  class Emitter {
    constructor() { this.listeners = {}; }
    on(name, listener) { (this.listeners[name] = this.listeners[name] || []).push(listener); return this; }
    emit(name, ...args) { for (const listener of this.listeners[name] || []) listener(...args); }
  }

  const double = { devices: [], calls: [], log: [] };

  class Call extends Emitter {
    constructor(parameters) {
      super();
      this.parameters = parameters;
      this.state = "pending";
      this.muted = false;
      this.digits = "";
    }
    accept() { double.log.push("accept"); this.state = "open"; this.emit("accept", this); }
    mute(shouldMute = true) {
      double.log.push(shouldMute ? "mute" : "unmute");
      this.muted = shouldMute;
      this.emit("mute", shouldMute, this);
    }
    isMuted() { return this.muted; }
    sendDigits(digits) { double.log.push("digits " + digits); this.digits += digits; }
    disconnect() {
      double.log.push("disconnect");
      if (this.state === "closed") return;
      this.state = "closed";
      this.emit("disconnect", this);
    }
    status() { return this.state; }
  }

  class Device extends Emitter {
    constructor(token, options) {
      super();
      this.token = token;
      this.options = options;
      this.state = "unregistered";
      double.devices.push(this);
      double.log.push("new Device");
    }
    async register() {
      double.log.push("register");
      this.state = "registering";
      this.emit("registering");
      if (double.refuseRegistration) {
        this.state = "unregistered";
        this.emit("unregistered");
        const error = Object.assign(new Error("Signaling connection error"), { code: 53000 });
        this.emit("error", error);
        throw error;
      }
      this.state = "registered";
      this.emit("registered");
    }
    updateToken(token) { double.log.push("updateToken"); this.token = token; }
    destroy() { double.log.push("destroy"); this.state = "destroyed"; this.emit("destroyed"); }
  }

  // What Twilio does, driven by the test.
  double.device = () => double.devices[double.devices.length - 1];
  double.ring = (parameters) => {
    const call = new Call(parameters);
    double.calls.push(call);
    double.device().emit("incoming", call);
  };
  double.call = () => double.calls[double.calls.length - 1];
  double.hangUp = () => { const call = double.call(); call.state = "closed"; call.emit("disconnect", call); };
  double.cancel = () => { const call = double.call(); call.state = "closed"; call.emit("cancel"); };
  double.tokenWillExpire = () => double.device().emit("tokenWillExpire", double.device());
  double.fail = (code, message, onCall) => {
    const error = Object.assign(new Error(message || "error " + code), { code: code });
    if (onCall) double.call().emit("error", error);
    else double.device().emit("error", error);
  };
  double.networkDrops = () => {
    const device = double.device();
    device.state = "unregistered";
    device.emit("unregistered");
    double.fail(53001, "Signaling connection disconnected");
  };
  double.networkReturns = () => {  // the SDK registers again by itself after it reconnects
    const device = double.device();
    device.state = "registered";
    device.emit("registered");
  };

  root.voiceDouble = double;
  root.Twilio = { Device: Device, Call: Call };
})(window);
