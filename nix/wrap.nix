# wrap: a package's program, jailed by nix-overlay-jail with the package's closure only.
#
#   wrap = pkgs.callPackage ./nix/wrap.nix { nix-overlay-jail = <the CLI's package>; };
#   wrap { package = pkgs.hello; options = [ "--net" "--home" "$HOME/.local/share/hello" ]; }
#
# The closure is computed at build time (closureInfo's store-paths) and read at launch with
# --closure-file: no nix-store query and no Nix daemon at run time. The options are exec's;
# in each, $NAME and ${NAME} are the launch's environment variables, and nothing else is
# expanded. They are checked at build time (exec --parse-only), so a typo fails the build.
#
# The result's bin/NAME runs the jailed program. It also carries what users expect of the
# package: its share/ (man pages, completions, icons...) and its desktop entries, rewritten
# to start the wrapper instead of the program.
#
# The nixpkgs it needs is small and named here: lib, runCommand, closureInfo, runtimeShell.
{
  lib,
  runCommand,
  closureInfo,
  runtimeShell,
  nix-overlay-jail,
}:

{
  package,
  program ? package.meta.mainProgram or (builtins.parseDrvName package.name).name,
  name ? program,
  options ? [ ],
}:

let
  closure = closureInfo { rootPaths = [ package ]; };
  executable = "${package}/bin/${program}";
  wrapper = "${placeholder "out"}/bin/${name}";
  # One shell word in double quotes: $VAR and ${VAR} expand at launch, nothing else does.
  word =
    text:
    ''"${
      lib.replaceStrings
        [ "\\" "\"" "`" "$(" ]
        [ "\\\\" "\\\"" "\\`" "\\$(" ]
        text
    }"'';
  jail = "${nix-overlay-jail}/bin/nix-overlay-jail";
  # Where share/ comes from: the package, then its man output where it has one.
  shareFrom = [ package ] ++ lib.optional (package ? man) package.man;
  execWith =
    extra:
    "${jail} exec ${extra}--closure-file ${closure}/store-paths ${lib.concatMapStringsSep " " word options} -- ${lib.escapeShellArg executable}";
  # sed's basic expressions: the program named by its store path or its bare name, as the
  # first word of Exec= or TryExec=.
  literal = lib.replaceStrings [ "\\" "." "[" "]" "*" "^" "$" "|" ] [ "\\\\" "\\." "\\[" "\\]" "\\*" "\\^" "\\$" "\\|" ];
  rewrites = lib.concatMap (
    key:
    lib.concatMap (named: [
      "s|^${key}=${literal named}\\([[:space:]]\\)|${key}=${wrapper}\\1|"
      "s|^${key}=${literal named}$|${key}=${wrapper}|"
    ]) [ executable program ]
  ) [ "Exec" "TryExec" ];
in
assert lib.assertMsg (builtins.match "[A-Za-z0-9._+-]+" name != null) "wrap: name must be a plain file name, got ${name}";
assert lib.assertMsg (!(lib.any (option: lib.hasInfix "\n" option) options)) "wrap: an option cannot hold a newline";
runCommand "${name}-jailed"
  {
    passthru = {
      inherit package closure;
    };
    meta = (package.meta or { }) // {
      mainProgram = name;
    };
  }
  ''
    set -e
    if [ ! -x ${lib.escapeShellArg executable} ]; then
      echo "wrap: ${executable} is not an executable of ${package}" >&2
      exit 1
    fi
    # The options, checked as exec reads them (the launch's variables are the build's here).
    ${execWith "--parse-only "}

    mkdir -p $out/bin
    cat > ${wrapper} <<'NIX_OVERLAY_JAIL_WRAPPER'
    #!${runtimeShell}
    # ${name}: ${executable}, jailed: its /nix/store is its closure only (nix-overlay-jail)
    exec ${execWith ""} "$@"
    NIX_OVERLAY_JAIL_WRAPPER
    chmod 0555 ${wrapper}

    # The package's other files users expect: man pages (from its man output, where it has
    # one), completions, icons, ...
    for share in ${lib.concatMapStringsSep " " (output: "${output}/share") shareFrom}; do
      [ -d "$share" ] || continue
      mkdir -p $out/share
      for entry in "$share"/*; do
        [ -e "$entry" ] || continue
        part=''${entry##*/}
        [ "$part" = applications ] || [ -e "$out/share/$part" ] || ln -s "$entry" "$out/share/$part"
      done
    done
    # ... and its desktop entries, starting the wrapper instead of the program.
    if [ -d ${package}/share/applications ]; then
      mkdir -p $out/share/applications
      for entry in ${package}/share/applications/*.desktop; do
        [ -e "$entry" ] || continue
        sed ${lib.concatMapStringsSep " " (rewrite: "-e ${lib.escapeShellArg rewrite}") rewrites} \
          "$entry" > "$out/share/applications/''${entry##*/}"
      done
    fi
  ''
