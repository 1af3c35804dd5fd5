# Run by `cmake --install` (install(CODE) in CMakeLists.txt), after the
# prefix is final: writes ktaudit.pc and the systemd unit with absolute
# paths into KTA_OUT for the install(FILES) rules that follow. The unit is
# dist/ktaudit.service with its paths (written for /usr/local/bin and
# /usr/share/doc) pointed at the install.
# In: KTA_SRC, KTA_OUT, KTA_BINDIR, KTA_LIBDIR, KTA_INCLUDEDIR, KTA_DOCDIR,
# KTA_VERSION
# and CMAKE_INSTALL_PREFIX (as given to --prefix; DESTDIR is not part of it).

set(KTA_PREFIX "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "(.)/+$" "\\1" KTA_PREFIX "${KTA_PREFIX}")

# A GNUInstallDirs directory as pkg-config wants it: ${prefix}/rel, or the
# absolute path as given.
function(kta_pc_dir rel out)
  if(IS_ABSOLUTE "${rel}")
    set(${out} "${rel}" PARENT_SCOPE)
  else()
    set(${out} "\${prefix}/${rel}" PARENT_SCOPE)
  endif()
endfunction()
kta_pc_dir("${KTA_LIBDIR}" KTA_PC_LIBDIR)
kta_pc_dir("${KTA_INCLUDEDIR}" KTA_PC_INCLUDEDIR)
configure_file("${KTA_SRC}/cmake/ktaudit.pc.in" "${KTA_OUT}/ktaudit.pc" @ONLY)

# The unit names the binary by absolute path (ExecStart=, ExecStartPre=);
# dist/ktaudit.service says /usr/local/bin for a manual install.
if(IS_ABSOLUTE "${KTA_BINDIR}")
  set(kta_bin "${KTA_BINDIR}/ktaudit")
else()
  set(kta_bin "${KTA_PREFIX}/${KTA_BINDIR}/ktaudit")
endif()
file(READ "${KTA_SRC}/dist/ktaudit.service" kta_unit)
string(REGEX REPLACE "\n(ExecStart|ExecStartPre)=[^ \n]*/ktaudit([ \n])" "\n\\1=${kta_bin}\\2"
  kta_unit "${kta_unit}")
string(FIND "${kta_unit}" "\nExecStart=${kta_bin} " kta_pos)
if(kta_pos EQUAL -1)
  message(FATAL_ERROR "dist/ktaudit.service: no `ExecStart=.../ktaudit ...` line to point at ${kta_bin}")
endif()
# Documentation=file:/usr/share/doc/ktaudit/... names the installed docs.
if(IS_ABSOLUTE "${KTA_DOCDIR}")
  set(kta_doc "${KTA_DOCDIR}")
else()
  set(kta_doc "${KTA_PREFIX}/${KTA_DOCDIR}")
endif()
string(REPLACE "file:/usr/share/doc/ktaudit/" "file:${kta_doc}/" kta_unit "${kta_unit}")
file(WRITE "${KTA_OUT}/ktaudit.service" "${kta_unit}")
