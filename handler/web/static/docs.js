// /docs: Swagger UI's start-up, a file of its own so that the page's Content-Security-Policy
// runs the app's own files only (no inline script). The settings are FastAPI's defaults, less the
// online validator badge (an image from another site).
"use strict";
window.ui = SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
