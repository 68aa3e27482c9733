// A small line chart on a canvas: the last `windowMs` of (time, value) points, a gap where a value is missing.
// A point may carry a second value `u`, drawn dashed in the same colour (a bound above the first, say).
// The canvas's data-points attribute says how many points are drawn (the browser test reads it).
"use strict";

class LineChart {
  constructor(canvas, { windowMs = 5 * 60 * 1000, gapMs = 2500, color = "#1b5fc1", format = v => v.toFixed(1) } = {}) {
    this.canvas = canvas;
    this.windowMs = windowMs;
    this.gapMs = gapMs;
    this.color = color;
    this.format = format;
    this.points = [];
  }

  // Adds points ({t: ms since epoch, v: number or null}) in time order, drops the ones out of the window, redraws.
  add(points) {
    for (const p of points) {
      if (this.points.length && p.t <= this.points[this.points.length - 1].t) continue;
      this.points.push(p);
    }
    const newest = this.points.length ? this.points[this.points.length - 1].t : 0;
    this.points = this.points.filter(p => p.t >= newest - this.windowMs);
    this.draw();
  }

  draw() {
    const c = this.canvas, g = c.getContext("2d");
    const left = 48, right = 8, top = 20, bottom = 20;
    const w = c.width - left - right, h = c.height - top - bottom;
    g.clearRect(0, 0, c.width, c.height);
    const values = this.points.filter(p => p.v != null);
    c.dataset.points = String(values.length);
    const newest = this.points.length ? this.points[this.points.length - 1].t : Date.now();
    // The time axis spans what is there, from one minute up to the whole window.
    const span = Math.min(this.windowMs, Math.max(60000, this.points.length ? newest - this.points[0].t : 0));
    const oldest = newest - span;
    let max = Math.max(...values.map(p => p.v), ...this.points.filter(p => p.u != null).map(p => p.u), 0);
    max = max > 0 ? max * 1.1 : 1;

    g.strokeStyle = "#e2e5ea"; g.fillStyle = "#6b7280"; g.font = "11px system-ui, sans-serif";
    for (let i = 0; i <= 4; i++) {
      const y = top + h - (h * i) / 4;
      g.beginPath(); g.moveTo(left, y); g.lineTo(left + w, y); g.stroke();
      const tick = (max * i) / 4;
      g.fillText(max < 4 ? tick.toFixed(2) : this.format(tick), 2, y + 4);
    }
    const step = span > 120000 ? 60000 : 15000;
    for (let t = 0; t <= span; t += step) {
      const x = left + w - (w * t) / span;
      const label = t === 0 ? "now" : step === 60000 ? `-${t / 60000} min` : `-${t / 1000} s`;
      g.fillText(label, Math.max(left, x - 14), c.height - 5);
    }

    // The poll interval is the node's setting: the closest two points tell it.
    let spacing = Infinity;
    for (let i = 1; i < this.points.length; i++) spacing = Math.min(spacing, this.points[i].t - this.points[i - 1].t);
    const gap = Math.max(this.gapMs, Number.isFinite(spacing) ? 2.5 * spacing : 0);
    g.strokeStyle = this.color; g.lineWidth = 1.5;
    this.line(g, p => p.v, gap, { left, top, w, h, oldest, span, max });
    if (this.points.some(p => p.u != null)) {
      g.setLineDash([4, 3]);
      this.line(g, p => p.u, gap, { left, top, w, h, oldest, span, max });
      g.setLineDash([]);
    }
    if (values.length) {
      const last = values[values.length - 1];
      g.fillStyle = this.color;
      g.fillText(`last ${this.format(last.v)}`, left + w - 70, 12);
    }
  }

  line(g, value, gap, { left, top, w, h, oldest, span, max }) {
    g.beginPath();
    let drawing = false, previous = null;
    for (const p of this.points) {
      // A missing value, or polls missing in between (more than two intervals apart), is a gap, not a line.
      const late = previous != null && p.t - previous > gap;
      previous = p.t;
      const v = value(p);
      if (v == null || late) drawing = false;
      if (v == null) continue;
      const x = left + (w * (p.t - oldest)) / span;
      const y = top + h - (h * v) / max;
      if (drawing) g.lineTo(x, y); else g.moveTo(x, y);
      drawing = true;
    }
    g.stroke();
  }
}
