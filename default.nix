# For Nix without flakes:
#
#   nix-build                                   the command (result/bin/nix-overlay-jail)
#   (import ./. { inherit pkgs; }).wrap { package = pkgs.hello; }
#   imports = [ (import ./. { }).nixosModule ];  in a NixOS configuration
{
  pkgs ? import <nixpkgs> { },
}:

let
  nix-overlay-jail = pkgs.callPackage ./nix/package.nix { };
in
nix-overlay-jail
// {
  wrap = pkgs.callPackage ./nix/wrap.nix { inherit nix-overlay-jail; };
  nixosModule = ./nix/module.nix;
}
