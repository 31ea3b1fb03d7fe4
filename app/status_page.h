// The status page served at GET / (app/status_page.html, embedded at build time by
// app/CMakeLists.txt). One self-contained HTML file with its script and style inline: no build
// step, no npm package. It polls the JSON endpoints that app/server.cc serves (/queries,
// /streams, /tables, /checkpoints) and redraws itself; docs/monitoring.md describes it.
// Thread-safety: returns a view of a constant; safe from any thread.
#pragma once

#include <string_view>

namespace sluice::app {

/// The page's HTML, UTF-8. Lives as long as the program.
std::string_view StatusPageHtml();

}  // namespace sluice::app
