// The live operations page: reads the report routes every REFRESH seconds and draws them.
//
// The downstream key: typed in once, kept in this tab's sessionStorage and sent only as the Authorization
// header of this origin's report requests. Not a cookie, because a cookie would be sent by the browser on any
// request to the gateway, cross-site ones included (the report routes would need CSRF defences they do not
// have), and the routes take the same header every other downstream system sends. Not in the URL, where
// logs and history would keep it. sessionStorage dies with the tab; what could read it is a script on this
// page, which the Content-Security-Policy limits to this file and the chart library, and all data is
// written as text, never as HTML.
"use strict";

const KEY_NAME = "jiesu.downstreamKey";
// ?refresh=seconds; ?date=YYYY-MM-DD and ?hour=YYYY-MM-DDTHH pin the page to a past day and hour.
const QUERY = new URLSearchParams(location.search);
const REFRESH_S = Number(QUERY.get("refresh")) || 30;
// The rates read a week of tickets (not a rollup) and move slowly: asked for every ten minutes at most.
const RATES_EVERY_MS = 600e3;
const only = (name) => (QUERY.get(name) ? { [name]: QUERY.get(name) } : {});
const state = { refreshed: 0, error: null, data: null, charts: {}, rates: null };
window.jiesuDashboard = state; // what the headless-browser test reads back

const $ = (id) => document.getElementById(id);
const number = (n) => (n === null || n === undefined ? "–" : n.toLocaleString("zh-CN"));
const percent = (r) => (r === null || r === undefined ? "–" : (r * 100).toFixed(1) + "%");
// Times in the hotline's zone (the day's), not the browser's.
let zone = undefined;
const clock = (iso, seconds) => new Date(iso).toLocaleTimeString("zh-CN", {
  timeZone: zone, hour: "2-digit", minute: "2-digit", second: seconds ? "2-digit" : undefined, hour12: false,
});
const orUnknown = (name) => name ?? "未知";

class NeedKey extends Error {}

async function api(path, params) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params || {})) url.searchParams.set(name, value);
  const key = sessionStorage.getItem(KEY_NAME);
  const resp = await fetch(url, { headers: key ? { Authorization: "Bearer " + key } : {}, cache: "no-store" });
  if (resp.status === 401) throw new NeedKey();
  if (!resp.ok) {
    let detail = resp.statusText;
    try { detail = (await resp.json()).detail || detail; } catch (_) { /* not a problem document */ }
    throw new Error(`${url.pathname}: ${resp.status} ${detail}`);
  }
  return resp.json();
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function fillTable(id, items, columns, rowClass) {
  const body = $(id).tBodies[0];
  body.replaceChildren();
  if (!items.length) {
    cell(body.insertRow(), "无", "empty").colSpan = columns.length;
    return;
  }
  for (const item of items) {
    const row = body.insertRow();
    if (rowClass) row.className = rowClass(item);
    for (const [value, cls] of columns) cell(row, value(item), cls);
  }
}

function drawVolume(day, word) {
  const chart = state.charts.volume || (state.charts.volume = echarts.init($("volume")));
  const shown = (h) => (h.elapsed ? h.tickets : null); // hours still to come are not zeros
  chart.setOption({
    animation: false,
    grid: { left: 50, right: 20, top: 30, bottom: 30 },
    legend: { data: [word, "上周同日"], top: 0 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "category", data: day.hours.map((h) => h.hour + "时") },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { id: "today", name: word, type: "bar", data: day.hours.map(shown), itemStyle: { color: "#2f6fab" } },
      { id: "week_before", name: "上周同日", type: "line", data: day.hours.map((h) => h.week_before),
        itemStyle: { color: "#e0913a" }, symbolSize: 4 },
    ],
  });
}

function drawHeat(day) {
  const chart = state.charts.heat || (state.charts.heat = echarts.init($("heat")));
  const totals = (key) => {
    const sums = new Map();
    for (const c of day.cells) sums.set(orUnknown(c[key]), (sums.get(orUnknown(c[key])) || 0) + c.tickets);
    return [...sums.entries()].sort((a, b) => b[1] - a[1]).map(([name]) => name);
  };
  const districts = totals("district").slice(0, 16).reverse(); // busiest at the top
  const categories = totals("category").slice(0, 12);
  const data = day.cells
    .map((c) => [categories.indexOf(orUnknown(c.category)), districts.indexOf(orUnknown(c.district)), c.tickets])
    .filter(([x, y]) => x >= 0 && y >= 0);
  const most = Math.max(1, ...data.map((d) => d[2]));
  chart.setOption({
    animation: false,
    grid: { left: 70, right: 20, top: 10, bottom: 70 },
    tooltip: { position: "top" },
    xAxis: { type: "category", data: categories, axisLabel: { interval: 0, rotate: 35 }, splitArea: { show: true } },
    yAxis: { type: "category", data: districts, splitArea: { show: true } },
    visualMap: { min: 0, max: most, show: false, inRange: { color: ["#f4f8fb", "#9ecae1", "#2171b5", "#08306b"] } },
    series: [{ id: "cells", type: "heatmap", data, label: { show: true, fontSize: 10 } }],
  }, { replaceMerge: ["series"] });
}

function showFigures(day, rates) {
  $("fig-tickets").textContent = number(day.total.tickets);
  const change = day.total.change;
  $("fig-change").textContent = change === null
    ? `上周同期 ${number(day.total.week_before)}`
    : `上周同期 ${number(day.total.week_before)}，${change >= 0 ? "+" : ""}${(change * 100).toFixed(1)}%`;
  $("fig-change").className = "note" + (change > 0 ? " up" : "");
  $("fig-urgent").textContent = number(day.total.urgent);
  $("fig-open").textContent = `待办 ${number(day.urgent_open.length)}`;
  $("fig-alerts").textContent = number(day.alerts.length);
  const t = rates.total;
  $("rate-response").textContent = percent(t.response_rate);
  $("rate-response-n").textContent = `近7日 ${number(t.responded)}/${number(t.due)}`;
  $("rate-resolution").textContent = percent(t.resolution_rate);
  $("rate-resolution-n").textContent = `近7日 ${number(t.solved)}/${number(t.followed_up)}`;
  $("rate-satisfaction").textContent = percent(t.satisfaction_rate);
  $("rate-satisfaction-n").textContent = `近7日 ${number(t.satisfied)}/${number(t.rated)}`;
}

const URGENCY = { critical: "特急", high: "紧急" };
const STATUS = { received: "已受理", processed: "已分析", dispatched: "已派单" };

function showLists(day, brief) {
  $("summary").textContent = brief.summary;
  fillTable("rising", brief.rising_incidents, [
    [(i) => i.title || i.incident_id],
    [(i) => i.place || orUnknown(i.district)],
    [(i) => orUnknown(i.category)],
    [(i) => "+" + number(i.growth), "n"],
    [(i) => number(i.size), "n"],
  ]);
  fillTable("urgent", day.urgent_open, [
    [(t) => clock(t.received_at)],
    [(t) => URGENCY[t.urgency] || t.urgency],
    [(t) => t.title],
    [(t) => orUnknown(t.district)],
    [(t) => STATUS[t.status] || t.status],
  ], (t) => t.urgency);
  fillTable("alerts", [...day.alerts].reverse(), [[(a) => clock(a.raised_at)], [(a) => a.message]]);
}

async function refresh() {
  try {
    const day = await api("/v1/reports/day", only("date"));
    const weekStart = new Date(Date.parse(day.start) - 6 * 86400e3).toISOString();
    const stale = !state.rates || state.rates.day !== day.date || Date.now() - state.rates.at > RATES_EVERY_MS;
    const [brief, rates] = await Promise.all([
      api("/v1/reports/brief", only("hour")),
      stale ? api("/v1/reports/rates", { from: weekStart, to: day.end, by: "department" }) : state.rates.body,
    ]);
    state.rates = stale ? { day: day.date, at: Date.now(), body: rates } : state.rates;
    $("key-form").hidden = true;
    $("board").hidden = false;
    $("forget").hidden = !sessionStorage.getItem(KEY_NAME);
    zone = day.timezone;
    $("day").textContent = `${day.date}（${day.timezone}）`;
    const word = day.complete ? day.date.slice(5) : "今日";
    document.querySelectorAll(".dayword").forEach((el) => { el.textContent = word; });
    showFigures(day, rates);
    drawVolume(day, word);
    drawHeat(day);
    showLists(day, brief);
    state.data = { day, brief, rates };
    state.error = null;
    state.refreshed += 1;
    $("status").textContent = `更新于 ${clock(new Date().toISOString(), true)}，每${REFRESH_S}秒刷新`;
    $("status").className = "";
  } catch (err) {
    state.error = String(err);
    if (err instanceof NeedKey) {
      sessionStorage.removeItem(KEY_NAME);
      $("board").hidden = true;
      $("key-form").hidden = false;
      $("status").textContent = "需要下游密钥";
    } else {
      $("status").textContent = "刷新失败：" + err.message;
    }
    $("status").className = "error";
  }
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_NAME, $("key").value.trim());
  $("key").value = "";
  refresh();
});
$("forget").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_NAME);
  location.reload();
});
window.addEventListener("resize", () => Object.values(state.charts).forEach((c) => c.resize()));

if (typeof echarts === "undefined") {
  $("status").textContent = "图表库未安装：在网关所在机器上运行 make dashboard";
  $("status").className = "error";
} else {
  refresh();
  setInterval(refresh, REFRESH_S * 1000);
}
