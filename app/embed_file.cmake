# Writes OUT, a C++ file defining sluice::app::StatusPageHtml() as the contents of IN.
# Run by app/CMakeLists.txt at build time: cmake -DIN=... -DOUT=... -P embed_file.cmake
file(READ "${IN}" content)
string(FIND "${content}" ")SLUICE_EMBED\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )SLUICE_EMBED\"")
endif()
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by app/embed_file.cmake. Do not edit.\n#include \"app/status_page.h\"\n\nnamespace sluice::app {\n\nstd::string_view StatusPageHtml() {\n  static constexpr std::string_view kHtml = R\"SLUICE_EMBED(${content})SLUICE_EMBED\";\n  return kHtml;\n}\n\n}  // namespace sluice::app\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
