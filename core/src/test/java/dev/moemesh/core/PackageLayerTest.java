package dev.moemesh.core;

import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** core's packages form layers: none reaches back into a package that depends on it. */
class PackageLayerTest {
    private static final JavaClasses CORE = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages("dev.moemesh.core");

    @Test
    void corePackagesHaveNoCycles() {
        slices().matching("dev.moemesh.core.(*)..").should().beFreeOfCycles().check(CORE);
    }
}
