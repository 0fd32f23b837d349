# perl-source.sh — sourced (". perl/build/perl-source.sh"), not run. Unpacks
# a perl source for building, the same way for memtrace-perl.sh and for
# check-core.sh's test tree. The caller defines die and fail_log.
# shellcheck shell=bash

# unpack_perl_source KIND PATH TREE LOG GUARD [NEWSV]: a fresh perl source tree at
# TREE (which must not exist) from PATH, of KIND:
#   tarball  an upstream tarball;
#   dir      an unpacked source directory (copied, then cleaned);
#   debian   a downloaded Debian source package (PATH is its .dsc): unpacked
#            by dpkg-source with Debian's patches applied, and the list of
#            those patches generated for 'perl -V' (patchlevel-debian.h), as
#            Debian's own build does.
# GUARD=yes applies abi-guard.pl (the twin's interpreter struct); NEWSV=yes
# applies newsv-hook.pl (perl 5.41.1 and later call the new-SV hook only
# with -DDEBUG_LEAKING_SCALARS; a no-op on older perls). All output goes to
# LOG.
unpack_perl_source() {
    local kind=$1 path=$2 tree=$3 log=$4 guard=$5 newsv=${6:-no} unpack top rev here
    here=$(dirname "${BASH_SOURCE[0]}")
    : >"$log"
    mkdir -p "$(dirname "$tree")"
    case "$kind" in
        dir)
            mkdir -p "$tree"
            cp -a "$path/." "$tree/"
            # A tree that was configured or built before must start clean.
            if [[ -f "$tree/Makefile" ]]; then
                (cd "$tree" && make distclean) >>"$log" 2>&1 || true
            fi
            rm -f "$tree/config.sh" "$tree/Policy.sh"
            ;;
        tarball)
            unpack=$tree.unpack
            rm -rf "$unpack"; mkdir -p "$unpack"
            tar -xf "$path" -C "$unpack" >>"$log" 2>&1 || fail_log "$log" "unpacking $path"
            top=$(find "$unpack" -mindepth 1 -maxdepth 1)
            [[ $(wc -l <<<"$top") == 1 && -f "$top/Configure" ]] ||
                die "$path does not unpack to a single perl source directory with a Configure script"
            mv "$top" "$tree"
            rmdir "$unpack"
            ;;
        debian)
            command -v dpkg-source >/dev/null || die "dpkg-source not found; install dpkg-dev (perl/build/install-deps.sh)"
            # apt-get checked the files' hashes against the signed index.
            dpkg-source --no-check -x "$path" "$tree" >>"$log" 2>&1 ||
                fail_log "$log" "unpacking $path with Debian's patches (dpkg-source -x)"
            [[ -f "$tree/Configure" ]] || die "$path unpacked to no perl source tree with a Configure script; see $log"
            rev=$(basename "$path" .dsc); rev=${rev#perl_}
            if [[ -x "$tree/debian/gen-patchlevel" || -f "$tree/debian/gen-patchlevel" ]]; then
                (cd "$tree" && sh debian/gen-patchlevel -p DEBPKG: -v "$rev" debian/patches/series >patchlevel-debian.h) 2>>"$log" ||
                    fail_log "$log" "listing Debian's patches (debian/gen-patchlevel)"
            else
                : >"$tree/patchlevel-debian.h"
            fi
            ;;
        *) die "unknown perl source kind '$kind' (tarball, dir or debian)" ;;
    esac
    if [[ $guard == yes ]]; then
        perl "$here/abi-guard.pl" "$tree" >>"$log" 2>&1 || fail_log "$log" "guarding PL_mem_log in $tree (abi-guard.pl)"
        if [[ -f "$tree/patchlevel-debian.h" ]]; then
            echo '	,"MEMTRACE:abi-guard - PL_mem_log only without PERL_MEM_LOG_NOIMPL, so XS modules of the twinned perl load"' >>"$tree/patchlevel-debian.h"
        fi
    fi
    if [[ $newsv == yes ]]; then
        perl "$here/newsv-hook.pl" "$tree" >>"$log" 2>&1 || fail_log "$log" "calling the new-SV hook under PERL_MEM_LOG in $tree (newsv-hook.pl)"
    fi
}
