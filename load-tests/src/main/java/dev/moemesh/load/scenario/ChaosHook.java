package dev.moemesh.load.scenario;

import dev.moemesh.load.run.Step;

/**
 * Something done to the mesh while a step runs (kill a service, cut a link): the place where the fault-injection runs
 * of the redundancy work plug in. Called on a thread of its own at the step's start; it returns when it is done, and
 * the step's figures then show what the fault cost.
 */
@FunctionalInterface
public interface ChaosHook {
    ChaosHook NONE = step -> { };

    void during(Step step) throws Exception;
}
