# NixOS module: the nix-overlay-jail command, and jailed programs in the system profile.
#
#   programs.nix-overlay-jail = {
#     enable = true;
#     jails.hello = { package = pkgs.hello; options = [ "--net" ]; };
#   };
#
# Each jail becomes a command NAME (by default the jail's attribute name) that runs the
# package's program through nix-overlay-jail exec, with the closure computed at build time
# (see wrap.nix); its man pages and desktop entries come with it.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.programs.nix-overlay-jail;
  inherit (lib) mkOption types;
  wrap = pkgs.callPackage ./wrap.nix { nix-overlay-jail = cfg.package; };
  jail = types.submodule (
    { name, ... }:
    {
      options = {
        package = mkOption {
          type = types.package;
          description = "The package whose program runs jailed, with its closure only.";
        };
        program = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "The program in the package's bin/ (default: its meta.mainProgram, else its name).";
        };
        name = mkOption {
          type = types.str;
          default = name;
          description = "The command the system profile gets.";
        };
        options = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [
            "--net"
            "--home"
            "$HOME/.local/share/hello"
          ];
          description = "Options of nix-overlay-jail exec; $VAR and \${VAR} expand at launch.";
        };
      };
    }
  );
in
{
  options.programs.nix-overlay-jail = {
    enable = lib.mkEnableOption "nix-overlay-jail, which runs programs in a jail whose /nix/store is their closure";
    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "The nix-overlay-jail package.";
    };
    jails = mkOption {
      type = types.attrsOf jail;
      default = { };
      description = "Programs to install jailed, by command name.";
    };
  };

  config = lib.mkIf cfg.enable {
    environment.systemPackages = [
      cfg.package
    ]
    ++ lib.mapAttrsToList (
      _: jail:
      wrap (
        {
          inherit (jail) package name options;
        }
        // lib.optionalAttrs (jail.program != null) { inherit (jail) program; }
      )
    ) cfg.jails;
  };
}
