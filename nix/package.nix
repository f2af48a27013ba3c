# The nix-overlay-jail command, built from this repository with nixpkgs' npm tooling.
#
#   pkgs.callPackage ./nix/package.nix { }
#
# The unit tests run at build time. At run time the command finds bubblewrap, util-linux,
# coreutils, Nix (nix-store, for closures not given as a file), xdg-dbus-proxy (for the bus
# options) and fuse-overlayfs (for --mount-with fuse) first on its PATH, so it works on a NixOS
# system that has none of them installed.
{
  lib,
  buildNpmPackage,
  nodejs,
  makeWrapper,
  bubblewrap,
  util-linux,
  coreutils,
  attr,
  nix,
  xdg-dbus-proxy,
  fuse-overlayfs,
  # The hash of the npm dependencies (fetchNpmDeps' output). It cannot be computed on a machine
  # without Nix's network access; `nix build .#default` prints the right one ("got: ...") when
  # this one is stale. See the README, "Using it from Nix".
  npmDepsHash ? "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
}:

let
  manifest = lib.importJSON ../package.json;
in
buildNpmPackage {
  pname = manifest.name;
  inherit (manifest) version;
  inherit nodejs npmDepsHash;

  # The sources only: no node_modules, build output, benchmark scratch or logs of a checkout.
  src = lib.cleanSourceWith {
    src = ../.;
    filter =
      path: type:
      let
        name = baseNameOf path;
      in
      !(builtins.elem name [
        "node_modules"
        "dist"
        "reports"
        ".stryker-tmp"
        ".git"
        "result"
      ])
      && !(name == "tmp" && baseNameOf (dirOf path) == "bench")
      && builtins.match ".*\\.log" name == null;
  };

  # The lockfile names no registry (npm's omit-lockfile-registry-resolved); fetchNpmDeps needs
  # each package's address. buildNpmPackage runs this postPatch in fetchNpmDeps too.
  postPatch = ''
    HOME=$TMPDIR ${nodejs}/bin/node ${./lock-resolved.mjs} \
      "$(HOME=$TMPDIR ${nodejs}/bin/npm config get registry)" package-lock.json
  '';

  nativeBuildInputs = [ makeWrapper ];
  # npm pack (the install step) would run prepack, the build again.
  npmPackFlags = [ "--ignore-scripts" ];

  # npm run build: tsc, then the one-file bundle and its V8 code cache (made by this nodejs,
  # the one the command runs with, so V8 accepts it).
  doCheck = true;
  checkPhase = ''
    runHook preCheck
    npm run test:unit
    runHook postCheck
  '';

  # npm's bin is the front, a shell script (src/launch/front.ts), which npmInstallHook's
  # wrapper would hand to node: it runs as itself instead, with this nodejs and the CLI beside it
  # named in it (no search at each start).
  postInstall = ''
    package=$out/lib/node_modules/${manifest.name}
    rm $out/bin/nix-overlay-jail
    sed -e "s|^noj_node=.*|noj_node='${nodejs}/bin/node'|" \
      -e "s|^noj_cli=.*|noj_cli='$package/dist/bin/nix-overlay-jail.cjs'|" \
      $package/dist/bin/nix-overlay-jail > $out/bin/nix-overlay-jail
    grep -q "^noj_cli='/" $out/bin/nix-overlay-jail
    chmod +x $out/bin/nix-overlay-jail
    wrapProgram $out/bin/nix-overlay-jail --prefix PATH : ${
      lib.makeBinPath [
        bubblewrap
        util-linux
        coreutils
        attr
        nix
        xdg-dbus-proxy
        fuse-overlayfs
      ]
    }
  '';

  meta = {
    description = manifest.description;
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "nix-overlay-jail";
  };
}
