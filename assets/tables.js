/* A chart's table alternative is drawn when it is first opened (callbacks/tables.py registers the callback;
   layouts/components/tables.py says why). Served from assets/, so the Content-Security-Policy needs no
   inline script for it. */
(function () {
  window.dash_clientside = window.dash_clientside || {};
  var ns = window.dash_clientside.pioneers = window.dash_clientside.pioneers || {};
  ns.show_table = function (nClicks, text) {
    return nClicks ? text : window.dash_clientside.no_update;
  };
})();
