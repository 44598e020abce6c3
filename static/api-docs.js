// Renders /api/openapi.json with the vendored Swagger UI (static/vendor/swagger-ui):
// an external file, so the page keeps its strict Content-Security-Policy.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") return;
  window.SwaggerUIBundle({
    url: root.getAttribute("data-spec") || "/api/openapi.json",
    domNode: root,
    deepLinking: false,
    // No requests to validator.swagger.io: everything stays on our origin.
    validatorUrl: null,
    tryItOutEnabled: false,
  });
});
