# Sourced by ./mesh and .ci/run: points JAVA_HOME at a JDK 21 or newer when the current one is older.
java_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p'; }
if [ -z "${JAVA_HOME:-}" ] || [ ! -x "$JAVA_HOME/bin/java" ] || [ "$(java_major "$JAVA_HOME")" -lt 21 ] 2>/dev/null; then
  for candidate in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-21-jdk-amd64 /usr/lib/jvm/*; do
    if [ -x "$candidate/bin/javac" ] && [ "$(java_major "$candidate")" -ge 21 ] 2>/dev/null; then
      export JAVA_HOME="$candidate"
      break
    fi
  done
fi
if [ -z "${JAVA_HOME:-}" ] || [ "$(java_major "$JAVA_HOME")" -lt 21 ] 2>/dev/null; then
  echo "no JDK 21 or newer found: install one (e.g. apt-get install openjdk-21-jdk) or set JAVA_HOME" >&2
  exit 1
fi
export PATH="$JAVA_HOME/bin:$PATH"
# Netty and Maven's own Guice reach for sun.misc.Unsafe; JDK 24+ print a screen of warnings about it at every start
# unless it is allowed (JDK 21 refuses the option, so it is added only where it exists).
jdk_access_args="--enable-native-access=ALL-UNNAMED"
[ "$(java_major "$JAVA_HOME")" -ge 24 ] 2>/dev/null && jdk_access_args="$jdk_access_args --sun-misc-unsafe-memory-access=allow"
case " ${MAVEN_OPTS:-} " in
  *" --sun-misc-unsafe-memory-access="*) ;;
  *) export MAVEN_OPTS="${MAVEN_OPTS:+$MAVEN_OPTS }$jdk_access_args" ;;
esac
