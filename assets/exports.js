/* Slide exports of the chart in presentation view (callbacks/downloads.py registers the callbacks).
   Served from assets/, so the Content-Security-Policy needs no inline script for it. */
(function () {
  function download(format) {
    return function (nClicks) {
      var noUpdate = window.dash_clientside.no_update;
      var graph = document.querySelector(".present-frame .js-plotly-plot");
      if (!nClicks || !graph || !window.Plotly) { return noUpdate; }
      var options = (graph._context && graph._context.toImageButtonOptions) || {};
      window.Plotly.downloadImage(graph, {format: format, filename: options.filename || "chart",
                                          width: 1600, height: 900, scale: 3});
      return noUpdate;
    };
  }
  window.dash_clientside = window.dash_clientside || {};
  var ns = window.dash_clientside.pioneers = window.dash_clientside.pioneers || {};
  ns.download_png = download("png");
  ns.download_svg = download("svg");
})();
