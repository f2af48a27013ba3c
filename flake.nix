{
  description = "Run a program in a bubblewrap jail whose /nix/store shows only its Nix closure, with one overlayfs mount";

  # No flake.lock is committed: it could not be computed where this was written (no network
  # to Nix's sources). `nix flake lock` makes one; see the README, "Using it from Nix".
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      # wrap as a function of a package set, with this flake's build of the command.
      wrapWith = pkgs: pkgs.callPackage ./nix/wrap.nix { nix-overlay-jail = self.packages.${pkgs.stdenv.hostPlatform.system}.default; };
    in
    {
      packages = forSystems (pkgs: {
        default = pkgs.callPackage ./nix/package.nix { };
        nix-overlay-jail = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      });

      apps = forSystems (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.default}/bin/nix-overlay-jail";
        };
      });

      # lib.wrap { package = pkgs.hello; options = [ "--net" ]; }: the package set is the
      # package's own system's; lib.wrapWith pkgs { ... } takes another (an overlaid one).
      lib = {
        wrap = args: wrapWith nixpkgs.legacyPackages.${args.package.system} args;
        inherit wrapWith;
      };

      overlays.default = final: prev: {
        nix-overlay-jail = final.callPackage ./nix/package.nix { };
        nix-overlay-jail-wrap = final.callPackage ./nix/wrap.nix { };
      };

      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          programs.nix-overlay-jail.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };
    };
}
